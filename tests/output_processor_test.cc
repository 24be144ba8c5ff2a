// OutputProcessor with the byte tokenizer (id = byte + 1, id 0 = "<|endoftext|>") and a small
// multi-byte-token fake: stop strings across tokens, hold-back and its release on length /
// eos / Flush, whole UTF-8 characters only, eos / ignore_eos / stop token ids, max_tokens,
// the earliest of several stop strings, stop strings that are prefixes of each other.
#include "engine/serving/output_processor.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace gf {
namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd";

const Tokenizer& Bytes() {
  static const std::unique_ptr<Tokenizer> tokenizer = [] {
    auto made = MakeTokenizer("byte", "");
    return made.ok() ? std::move(made).value() : nullptr;
  }();
  return *tokenizer;
}

TokenId Id(char c) { return static_cast<TokenId>(static_cast<uint8_t>(c)) + 1; }

OutputRules Rules(std::vector<std::string> stop, int64_t max_tokens = 100) {
  OutputRules rules;
  rules.stop = std::move(stop);
  rules.max_tokens = max_tokens;
  return rules;
}

// Pushes `text` byte by byte; returns the text of every step ("" included).
std::vector<std::string> PushText(OutputProcessor& out, std::string_view text,
                                  FinishReason* last_finish = nullptr) {
  std::vector<std::string> steps;
  for (char c : text) {
    OutputProcessor::Step step = out.Push(Id(c));
    steps.push_back(step.text);
    if (last_finish != nullptr) *last_finish = step.finish;
  }
  return steps;
}

using Texts = std::vector<std::string>;

TEST(OutputProcessorTest, PlainTextIsReleasedTokenByToken) {
  OutputProcessor out(Bytes(), Rules({}));
  FinishReason finish = FinishReason::kError;
  EXPECT_EQ(PushText(out, "hi!", &finish), (Texts{"h", "i", "!"}));
  EXPECT_EQ(finish, FinishReason::kNone);
  EXPECT_EQ(out.num_tokens(), 3);
  EXPECT_FALSE(out.finished());
}

TEST(OutputProcessorTest, StopStringAcrossTokens) {
  OutputProcessor out(Bytes(), Rules({"world"}));
  EXPECT_EQ(PushText(out, "hello worl"), (Texts{"h", "e", "l", "l", "o", " ", "", "", "", ""}));
  const OutputProcessor::Step step = out.Push(Id('d'));
  EXPECT_EQ(step.text, "");
  EXPECT_EQ(step.finish, FinishReason::kStop);
  EXPECT_TRUE(out.finished());
  EXPECT_EQ(out.num_tokens(), 11);
  // Push after the finish: no-op.
  const OutputProcessor::Step after = out.Push(Id('!'));
  EXPECT_EQ(after.text, "");
  EXPECT_EQ(after.finish, FinishReason::kNone);
  EXPECT_EQ(out.num_tokens(), 11);
  EXPECT_EQ(out.Flush(), "");
}

TEST(OutputProcessorTest, HeldBackTextIsReleasedWhenItCannotBeAStop) {
  OutputProcessor out(Bytes(), Rules({"world"}));
  // "wo" could begin "world"; "wox" cannot (and no suffix of it can).
  EXPECT_EQ(PushText(out, "a wox"), (Texts{"a", " ", "", "", "wox"}));
  // "ww": the first w is released, the second is held.
  EXPECT_EQ(PushText(out, "ww"), (Texts{"", "w"}));
  EXPECT_EQ(PushText(out, "orld"), (Texts{"", "", "", ""}));
  EXPECT_TRUE(out.finished());
}

TEST(OutputProcessorTest, HoldBackIsReleasedOnLength) {
  OutputProcessor out(Bytes(), Rules({"abc"}, /*max_tokens=*/4));
  FinishReason finish = FinishReason::kError;
  EXPECT_EQ(PushText(out, "xab", &finish), (Texts{"x", "", ""}));
  EXPECT_EQ(finish, FinishReason::kNone);
  const OutputProcessor::Step step = out.Push(Id('a'));  // "aba": "a" could still begin "abc"
  EXPECT_EQ(step.text, "aba");
  EXPECT_EQ(step.finish, FinishReason::kLength);
  EXPECT_EQ(out.num_tokens(), 4);
  EXPECT_TRUE(out.finished());
}

TEST(OutputProcessorTest, LengthFlushesAnUnfinishedCharacter) {
  OutputProcessor out(Bytes(), Rules({}, /*max_tokens=*/3));
  EXPECT_EQ(out.Push(Id('a')).text, "a");
  EXPECT_EQ(out.Push(0xe4 + 1).text, "");
  const OutputProcessor::Step step = out.Push(0xb8 + 1);  // 2 of the 3 bytes of U+4E2D
  EXPECT_EQ(step.text, kReplacement);
  EXPECT_EQ(step.finish, FinishReason::kLength);
}

TEST(OutputProcessorTest, PartialUtf8IsNeverReleased) {
  OutputProcessor out(Bytes(), Rules({}));
  const std::string emoji = "\xf0\x9f\x98\x80";
  EXPECT_EQ(PushText(out, emoji + "!"), (Texts{"", "", "", emoji, "!"}));
  EXPECT_EQ(PushText(out, "\xc3\xa9"), (Texts{"", "\xc3\xa9"}));
}

TEST(OutputProcessorTest, StopStringOfMultiByteCharacters) {
  // "語テ" in the middle of Japanese text fed byte by byte.
  const std::string text = "日本語テキスト";
  OutputProcessor out(Bytes(), Rules({"語テ"}));
  FinishReason finish = FinishReason::kNone;
  const Texts steps = PushText(out, text.substr(0, 12), &finish);  // up to the end of "テ"
  EXPECT_EQ(finish, FinishReason::kStop);
  std::string released;
  for (const std::string& s : steps) released += s;
  EXPECT_EQ(released, "日本");
  // Bytes 0..5 are "日本": each released on its last byte; "語" (6..8) is held back.
  EXPECT_EQ(steps, (Texts{"", "", "日", "", "", "本", "", "", "", "", "", ""}));
  EXPECT_EQ(out.num_tokens(), 12);
}

TEST(OutputProcessorTest, StopStringStartingWithAMultiByteCharacterIsHeldWhole) {
  OutputProcessor out(Bytes(), Rules({"é!"}));
  EXPECT_EQ(PushText(out, "caf\xc3\xa9"), (Texts{"c", "a", "f", "", ""}));
  EXPECT_EQ(PushText(out, "?"), (Texts{"\xc3\xa9?"}));
  FinishReason finish = FinishReason::kNone;
  EXPECT_EQ(PushText(out, "\xc3\xa9!", &finish), (Texts{"", "", ""}));
  EXPECT_EQ(finish, FinishReason::kStop);
}

TEST(OutputProcessorTest, StopBytesInsideACharacterDoNotMatch) {
  // "\xb8\xad" is the tail of "中" (E4 B8 AD): a match there would cut the character.
  OutputProcessor out(Bytes(), Rules({"\xb8\xad"}));
  FinishReason finish = FinishReason::kError;
  EXPECT_EQ(PushText(out, "中x", &finish), (Texts{"", "", "中", "x"}));
  EXPECT_EQ(finish, FinishReason::kNone);
}

TEST(OutputProcessorTest, EosStopsWithoutTextAndReleasesHeldText) {
  OutputProcessor out(Bytes(), Rules({"bx"}));
  EXPECT_EQ(PushText(out, "ab"), (Texts{"a", ""}));
  const OutputProcessor::Step step = out.Push(0);  // eos_id 0
  EXPECT_EQ(step.text, "b");
  EXPECT_EQ(step.finish, FinishReason::kStop);
  EXPECT_EQ(out.num_tokens(), 3);
}

TEST(OutputProcessorTest, EosFlushesAnUnfinishedCharacter) {
  OutputProcessor out(Bytes(), Rules({}));
  EXPECT_EQ(out.Push(0xc3 + 1).text, "");
  const OutputProcessor::Step step = out.Push(0);
  EXPECT_EQ(step.text, kReplacement);
  EXPECT_EQ(step.finish, FinishReason::kStop);
}

TEST(OutputProcessorTest, IgnoreEosTreatsEosAsText) {
  OutputRules rules = Rules({});
  rules.ignore_eos = true;
  OutputProcessor out(Bytes(), rules);
  const OutputProcessor::Step step = out.Push(0);
  EXPECT_EQ(step.text, "<|endoftext|>");
  EXPECT_EQ(step.finish, FinishReason::kNone);
  EXPECT_FALSE(out.finished());
}

TEST(OutputProcessorTest, CustomEosId) {
  OutputRules rules = Rules({});
  rules.eos_id = Id('#');
  OutputProcessor out(Bytes(), rules);
  EXPECT_EQ(out.Push(0).text, "<|endoftext|>");  // id 0 is not the eos here
  const OutputProcessor::Step step = out.Push(Id('#'));
  EXPECT_EQ(step.text, "");
  EXPECT_EQ(step.finish, FinishReason::kStop);
}

TEST(OutputProcessorTest, StopTokenIdsFinishWithoutText) {
  OutputRules rules = Rules({});
  rules.stop_token_ids = {Id('x'), Id('y')};
  rules.ignore_eos = true;
  OutputProcessor out(Bytes(), rules);
  EXPECT_EQ(out.Push(Id('a')).text, "a");
  const OutputProcessor::Step step = out.Push(Id('y'));
  EXPECT_EQ(step.text, "");
  EXPECT_EQ(step.finish, FinishReason::kStop);
  EXPECT_EQ(out.num_tokens(), 2);

  // A stop token id stops even when it is the eos id and ignore_eos is set.
  rules.stop_token_ids = {0};
  OutputProcessor eos_listed(Bytes(), rules);
  EXPECT_EQ(eos_listed.Push(0).finish, FinishReason::kStop);
}

TEST(OutputProcessorTest, MaxTokensOne) {
  OutputProcessor out(Bytes(), Rules({}, /*max_tokens=*/1));
  const OutputProcessor::Step step = out.Push(Id('a'));
  EXPECT_EQ(step.text, "a");
  EXPECT_EQ(step.finish, FinishReason::kLength);
  EXPECT_EQ(out.Push(Id('b')).text, "");
  EXPECT_EQ(out.num_tokens(), 1);

  // Stop wins over length on the same token.
  OutputProcessor eos(Bytes(), Rules({}, /*max_tokens=*/1));
  EXPECT_EQ(eos.Push(0).finish, FinishReason::kStop);
  OutputProcessor stop_string(Bytes(), Rules({"ab"}, /*max_tokens=*/2));
  EXPECT_EQ(stop_string.Push(Id('a')).finish, FinishReason::kNone);
  const OutputProcessor::Step last = stop_string.Push(Id('b'));
  EXPECT_EQ(last.text, "");
  EXPECT_EQ(last.finish, FinishReason::kStop);
}

TEST(OutputProcessorTest, EarliestOfSeveralStopStringsWins) {
  // Both complete on the same token; "bcd" starts earlier than "cd".
  for (const std::vector<std::string>& stops :
       {std::vector<std::string>{"cd", "bcd"}, std::vector<std::string>{"bcd", "cd"}}) {
    OutputProcessor out(Bytes(), Rules(stops));
    FinishReason finish = FinishReason::kNone;
    EXPECT_EQ(PushText(out, "abcd", &finish), (Texts{"a", "", "", ""}));
    EXPECT_EQ(finish, FinishReason::kStop);
  }
  // The first to complete wins even if a longer one started earlier.
  OutputProcessor out(Bytes(), Rules({"bcde", "cd"}));
  EXPECT_EQ(PushText(out, "abcd"), (Texts{"a", "", "", "b"}));
  EXPECT_TRUE(out.finished());
}

TEST(OutputProcessorTest, StopStringThatIsAPrefixOfAnother) {
  for (const std::vector<std::string>& stops :
       {std::vector<std::string>{"ab", "abc"}, std::vector<std::string>{"abc", "ab"}}) {
    OutputProcessor out(Bytes(), Rules(stops));
    FinishReason finish = FinishReason::kNone;
    EXPECT_EQ(PushText(out, "xab", &finish), (Texts{"x", "", ""}));
    EXPECT_EQ(finish, FinishReason::kStop);
  }
  // The longer one is held back as long as it could still complete.
  OutputProcessor out(Bytes(), Rules({"xyz", "xyzw"}));
  EXPECT_EQ(PushText(out, "xyxy"), (Texts{"", "", "xy", ""}));
}

TEST(OutputProcessorTest, FlushReleasesHeldTextAndPendingBytes) {
  OutputProcessor out(Bytes(), Rules({"ab"}));
  EXPECT_EQ(PushText(out, "za"), (Texts{"z", ""}));
  // The pending byte of an unfinished character does not count as text yet: "a" stays held.
  EXPECT_EQ(out.Push(0xe4 + 1).text, "");
  EXPECT_EQ(out.Flush(), "a" + std::string(kReplacement));
  EXPECT_TRUE(out.finished());
  EXPECT_EQ(out.Flush(), "");
  EXPECT_EQ(out.Push(Id('q')).text, "");

  OutputProcessor held(Bytes(), Rules({"ab"}));
  EXPECT_EQ(PushText(held, "a"), (Texts{""}));
  EXPECT_EQ(held.Flush(), "a");

  OutputProcessor empty(Bytes(), Rules({}));
  EXPECT_EQ(empty.Flush(), "");
  EXPECT_TRUE(empty.finished());
}

TEST(OutputProcessorTest, EmptyStopStringsAreIgnored) {
  OutputProcessor out(Bytes(), Rules({"", "q"}));
  EXPECT_EQ(PushText(out, "ab"), (Texts{"a", "b"}));
  EXPECT_FALSE(out.finished());
}

// Tokens of several characters, to see matches inside one token.
class WordTokenizer final : public Tokenizer {
 public:
  std::vector<TokenId> Encode(std::string_view) const override { return {}; }
  std::vector<TokenId> EncodeOrdinary(std::string_view) const override { return {}; }
  std::string_view TokenBytes(TokenId id) const override {
    auto it = tokens_.find(id);
    return it == tokens_.end() ? std::string_view() : it->second;
  }
  int vocab_size() const override { return 10; }

 private:
  std::map<TokenId, std::string> tokens_ = {
      {1, "Hello"}, {2, " wor"}, {3, "ld and more"}, {4, "END"}, {5, "\xe4\xb8"}, {6, "\xad!"}};
};

TEST(OutputProcessorTest, MatchInsideOneTokenDropsWhatFollows) {
  const WordTokenizer words;
  OutputRules rules = Rules({"world"});
  rules.eos_id = 4;
  OutputProcessor out(words, rules);
  EXPECT_EQ(out.Push(1).text, "Hello");
  EXPECT_EQ(out.Push(2).text, " ");  // "wor" could begin "world"
  const OutputProcessor::Step step = out.Push(3);
  EXPECT_EQ(step.text, "");
  EXPECT_EQ(step.finish, FinishReason::kStop);

  OutputProcessor other(words, Rules({"d a"}));
  EXPECT_EQ(other.Push(2).text, " wor");
  const OutputProcessor::Step cut = other.Push(3);
  EXPECT_EQ(cut.text, "l");
  EXPECT_EQ(cut.finish, FinishReason::kStop);

  OutputProcessor split(words, Rules({"!"}));
  EXPECT_EQ(split.Push(5).text, "");
  const OutputProcessor::Step split_step = split.Push(6);
  EXPECT_EQ(split_step.text, "中");
  EXPECT_EQ(split_step.finish, FinishReason::kStop);
}

}  // namespace
}  // namespace gf
