// Usage accounting of a fanned-out OpenAI request (server/request_fanout.h CombineUsage):
// completion tokens summed over every choice; each prompt's prompt tokens and cached tokens
// counted once, the cached tokens as the most any of that prompt's n choices reused.
#include "server/request_fanout.h"

#include <gtest/gtest.h>

#include <vector>

namespace gf::server {
namespace {

TEST(CombineUsageTest, OneChoice) {
  const std::vector<ChoiceTokens> choices = {{100, 64, 7}};
  const UsageCounts usage = CombineUsage(choices, 1);
  EXPECT_EQ(usage.prompt_tokens, 100);
  EXPECT_EQ(usage.cached_tokens, 64);
  EXPECT_EQ(usage.completion_tokens, 7);
}

TEST(CombineUsageTest, NChoicesOfOnePromptCountThePromptOnceAndTheMostReused) {
  // n = 3: the first choice missed, the others hit snapshots of different lengths.
  const std::vector<ChoiceTokens> choices = {{100, 0, 5}, {100, 96, 6}, {100, 64, 7}};
  const UsageCounts usage = CombineUsage(choices, 3);
  EXPECT_EQ(usage.prompt_tokens, 100);
  EXPECT_EQ(usage.cached_tokens, 96);  // not 160 (the sum): never more than the prompt
  EXPECT_EQ(usage.completion_tokens, 18);
}

TEST(CombineUsageTest, SeveralPromptsTimesN) {
  // Two prompts x n = 2 (index = prompt * n + i).
  const std::vector<ChoiceTokens> choices = {
      {50, 32, 1},
      {50, 48, 2},  // prompt 0
      {80, 0, 3},
      {80, 0, 4},  // prompt 1
  };
  const UsageCounts usage = CombineUsage(choices, 2);
  EXPECT_EQ(usage.prompt_tokens, 130);
  EXPECT_EQ(usage.cached_tokens, 48);
  EXPECT_EQ(usage.completion_tokens, 10);

  // The largest value may come first in its group too.
  const std::vector<ChoiceTokens> reversed = {{50, 48, 1}, {50, 32, 1}, {80, 16, 1}, {80, 0, 1}};
  EXPECT_EQ(CombineUsage(reversed, 2).cached_tokens, 64);
}

TEST(CombineUsageTest, DegenerateInputs) {
  EXPECT_EQ(CombineUsage({}, 2).prompt_tokens, 0);
  EXPECT_EQ(CombineUsage({}, 2).cached_tokens, 0);
  // n < 1 is treated as 1 (every choice its own prompt).
  const std::vector<ChoiceTokens> choices = {{10, 4, 1}, {20, 8, 1}};
  const UsageCounts usage = CombineUsage(choices, 0);
  EXPECT_EQ(usage.prompt_tokens, 30);
  EXPECT_EQ(usage.cached_tokens, 12);
  // A group cut short (fewer choices than n) still counts its cached tokens.
  const std::vector<ChoiceTokens> partial = {{10, 4, 1}, {10, 6, 1}, {20, 8, 1}};
  EXPECT_EQ(CombineUsage(partial, 2).cached_tokens, 14);
}

}  // namespace
}  // namespace gf::server
