// Tests for gf::Sampler and gf::SamplingParams::Validate (engine/sampler.h).
#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace gf {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Reference log_softmax, two passes in double.
std::vector<double> LogSoftmax(const std::vector<float>& logits) {
  double max = -std::numeric_limits<double>::infinity();
  for (float x : logits) max = std::max(max, static_cast<double>(x));
  double sum = 0.0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
  const double log_z = max + std::log(sum);
  std::vector<double> out;
  for (float x : logits) out.push_back(static_cast<double>(x) - log_z);
  return out;
}

std::vector<float> LogitsFromProbs(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

// Reproducible pseudo-random logits in [lo, hi).
std::vector<float> RandomLogits(size_t n, uint64_t seed, float lo = -10.0f, float hi = 10.0f) {
  std::mt19937_64 rng(seed);
  std::vector<float> out(n);
  for (float& x : out) {
    x = lo + (hi - lo) * static_cast<float>(UnitIntervalFromBits(rng()));
  }
  return out;
}

int32_t Argmax(const std::vector<float>& logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best;
}

// Token counts over `draws` samples of the same row by one Sampler.
std::vector<int> CountDraws(const SamplingParams& params, const std::vector<float>& logits,
                            int draws) {
  Sampler sampler(params, {});
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(sampler.Sample(logits).token)];
  return counts;
}

SamplingParams Sampling(float temperature, uint64_t seed = 1234) {
  SamplingParams p;
  p.temperature = temperature;
  p.seed = seed;
  return p;
}

// ---- greedy ----

TEST(SamplerTest, GreedyPicksArgmax) {
  const std::vector<float> logits = {0.1f, 2.5f, -1.0f, 2.4f, -7.0f};
  Sampler sampler(SamplingParams{}, {});
  const SampleResult r = sampler.Sample(logits);
  EXPECT_EQ(r.token, 1);
  EXPECT_NEAR(r.logprob, LogSoftmax(logits)[1], 1e-6);
  EXPECT_TRUE(r.top.empty());
}

TEST(SamplerTest, GreedyTieGoesToLowestId) {
  const std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f, 3.0f};
  Sampler sampler(SamplingParams{}, {});
  EXPECT_EQ(sampler.Sample(logits).token, 1);
}

TEST(SamplerTest, GreedyOnLargeRandomRows) {
  Sampler sampler(SamplingParams{}, {});
  for (uint64_t row = 0; row < 5; ++row) {
    const std::vector<float> logits = RandomLogits(65536, 100 + row);
    EXPECT_EQ(sampler.Sample(logits).token, Argmax(logits));
  }
}

TEST(SamplerTest, GreedySkipsNanAndTakesPositiveInfinity) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  {
    Sampler sampler(SamplingParams{}, {});
    const SampleResult r = sampler.Sample(std::vector<float>{nan, 1.0f, nan, 0.5f});
    EXPECT_EQ(r.token, 1);
    EXPECT_TRUE(std::isfinite(r.logprob));
  }
  {
    Sampler sampler(Sampling(1.0f), {});
    for (int i = 0; i < 50; ++i) {
      EXPECT_EQ(sampler.Sample(std::vector<float>{nan, 1.0f, kInf, 3.0f}).token, 2);
    }
  }
}

TEST(SamplerTest, TemperatureNearZeroMatchesGreedy) {
  for (uint64_t row = 0; row < 20; ++row) {
    const std::vector<float> logits = RandomLogits(500, 7 + row);
    Sampler sampler(Sampling(1e-6f, row), {});
    EXPECT_EQ(sampler.Sample(logits).token, Argmax(logits)) << "row " << row;
  }
}

// ---- top-k, top-p, min-p ----

TEST(SamplerTest, TopKOneEqualsGreedy) {
  SamplingParams p = Sampling(1.5f);
  p.top_k = 1;
  Sampler sampler(p, {});
  for (uint64_t row = 0; row < 20; ++row) {
    const std::vector<float> logits = RandomLogits(1000, 50 + row);
    EXPECT_EQ(sampler.Sample(logits).token, Argmax(logits)) << "row " << row;
  }
  // A tie at the top keeps the lower id.
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(sampler.Sample(std::vector<float>{1.0f, 5.0f, 5.0f, 0.0f}).token, 1);
  }
}

TEST(SamplerTest, TopKOnlyDrawsTheKBest) {
  std::vector<float> logits(65536, 0.0f);
  const std::set<int32_t> best = {3, 17, 40000, 65535, 12345};
  for (int32_t id : best) logits[static_cast<size_t>(id)] = 1.0f;
  SamplingParams p = Sampling(1.0f);
  p.top_k = 5;
  const std::vector<int> counts = CountDraws(p, logits, 100);
  std::set<int32_t> drawn;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) drawn.insert(static_cast<int32_t>(i));
  }
  EXPECT_EQ(drawn, best);
}

TEST(SamplerTest, TopPTinyEqualsGreedy) {
  SamplingParams p = Sampling(1.0f);
  p.top_p = 1e-6f;
  Sampler sampler(p, {});
  for (uint64_t row = 0; row < 20; ++row) {
    const std::vector<float> logits = RandomLogits(2000, 300 + row, -2.0f, 2.0f);
    EXPECT_EQ(sampler.Sample(logits).token, Argmax(logits)) << "row " << row;
  }
}

TEST(SamplerTest, TopPHalfDrawsOnlyTheNucleus) {
  // Sorted probabilities: id1 0.35, id3 0.30 (cumulative 0.65 >= 0.5), id2 0.25, id0 0.10.
  const std::vector<float> logits = LogitsFromProbs({0.10, 0.35, 0.25, 0.30});
  SamplingParams p = Sampling(1.0f);
  p.top_p = 0.5f;
  const std::vector<int> counts = CountDraws(p, logits, 10000);
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[1] / 10000.0, 0.35 / 0.65, 0.015);
  EXPECT_NEAR(counts[3] / 10000.0, 0.30 / 0.65, 0.015);

  p.top_p = 0.3f;  // 0.35 alone already covers it
  const std::vector<int> single = CountDraws(p, logits, 1000);
  EXPECT_EQ(single[1], 1000);
}

TEST(SamplerTest, TopPLargeNucleusBreaksTiesByLowerId) {
  // 200 high tokens (logit 5) spread over the vocabulary, the rest at 0. The nucleus is the
  // smallest prefix in (logit desc, id asc) order, so it is the lowest-id high tokens.
  const size_t vocab = 4096;
  std::vector<float> logits(vocab, 0.0f);
  std::vector<int32_t> high;
  for (int32_t i = 0; i < 200; ++i) {
    high.push_back(i * 20 + 7);
    logits[static_cast<size_t>(i * 20 + 7)] = 5.0f;
  }
  const double w = std::exp(5.0);
  const double total = 200.0 * w + static_cast<double>(vocab - 200);
  const float top_p = 0.5f;
  size_t keep = 0;
  while (static_cast<double>(keep) * w < static_cast<double>(top_p) * total) ++keep;
  ASSERT_EQ(keep, 114u);

  SamplingParams p = Sampling(1.0f, 99);
  p.top_p = top_p;
  const std::vector<int> counts = CountDraws(p, logits, 2000);  // ~17 draws per kept token
  std::set<int32_t> drawn;
  for (size_t i = 0; i < vocab; ++i) {
    if (counts[i] > 0) drawn.insert(static_cast<int32_t>(i));
  }
  const std::set<int32_t> expected(high.begin(), high.begin() + static_cast<std::ptrdiff_t>(keep));
  EXPECT_EQ(drawn, expected);
}

TEST(SamplerTest, MinPDropsTokensBelowFractionOfTheBest) {
  const std::vector<float> logits = LogitsFromProbs({0.5, 0.3, 0.15, 0.05});
  SamplingParams p = Sampling(1.0f);
  p.min_p = 0.2f;  // threshold 0.1: drops id3
  std::vector<int> counts = CountDraws(p, logits, 5000);
  EXPECT_EQ(counts[3], 0);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[2], 0);
  EXPECT_NEAR(counts[2] / 5000.0, 0.15 / 0.95, 0.015);

  p.min_p = 0.5f;  // threshold 0.25: keeps ids 0 and 1
  counts = CountDraws(p, logits, 5000);
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_GT(counts[1], 0);

  p.min_p = 0.7f;  // only the best
  counts = CountDraws(p, logits, 1000);
  EXPECT_EQ(counts[0], 1000);
}

// ---- penalties and bias ----

TEST(SamplerTest, RepetitionPenaltyDividesPositiveLogitsOfPromptTokens) {
  const std::vector<float> logits = {2.0f, 1.8f, -0.5f, -0.4f};
  SamplingParams p;
  EXPECT_EQ(Sampler(p, std::vector<int32_t>{0}).Sample(logits).token, 0);  // disabled
  p.repetition_penalty = 1.2f;                                             // 2.0 / 1.2 = 1.667
  EXPECT_EQ(Sampler(p, std::vector<int32_t>{0}).Sample(logits).token, 1);
  EXPECT_EQ(Sampler(p, std::vector<int32_t>{2, 3}).Sample(logits).token, 0);  // others unseen
}

TEST(SamplerTest, RepetitionPenaltyMultipliesNegativeLogits) {
  const std::vector<float> logits = {-1.0f, -1.1f, -3.0f};
  SamplingParams p;
  p.repetition_penalty = 1.2f;  // -1.0 * 1.2 = -1.2 < -1.1
  EXPECT_EQ(Sampler(p, std::vector<int32_t>{0}).Sample(logits).token, 1);
  p.repetition_penalty = 0.5f;  // < 1 rewards: -1.1 * 0.5 = -0.55 > -1.0
  EXPECT_EQ(Sampler(p, std::vector<int32_t>{1}).Sample(logits).token, 1);
}

TEST(SamplerTest, RepetitionPenaltyAppliesOncePerTokenAndCoversGeneratedTokens) {
  SamplingParams p;
  p.repetition_penalty = 1.2f;
  // Repeated prompt occurrences do not compound: 2.0 / 1.2 = 1.667 > 1.6.
  EXPECT_EQ(Sampler(p, std::vector<int32_t>{0, 0, 0}).Sample(std::vector<float>{2.0f, 1.6f}).token,
            0);
  // A generated token is penalised on the next step.
  Sampler sampler(p, {});
  const std::vector<float> logits = {2.0f, 1.8f};
  EXPECT_EQ(sampler.Sample(logits).token, 0);
  EXPECT_EQ(sampler.Sample(logits).token, 1);
  EXPECT_EQ(sampler.Sample(logits).token, 0);  // both seen: 1.667 > 1.5
}

TEST(SamplerTest, PresencePenaltyAppliesToGeneratedTokensOnly) {
  const std::vector<float> logits = {3.0f, 2.5f, 0.0f};
  SamplingParams p;
  p.presence_penalty = 0.6f;
  // The prompt does not count.
  Sampler with_prompt(p, std::vector<int32_t>{0, 0});
  EXPECT_EQ(with_prompt.Sample(logits).token, 0);
  EXPECT_EQ(with_prompt.Sample(logits).token, 1);  // 3.0 - 0.6 = 2.4 < 2.5
  EXPECT_EQ(with_prompt.Sample(logits).token, 0);  // 2.4 > 1.9
  EXPECT_EQ(with_prompt.Sample(logits).token, 0);  // presence does not grow with the count

  p.presence_penalty = 0.4f;  // 2.6 > 2.5: no change
  Sampler mild(p, {});
  EXPECT_EQ(mild.Sample(logits).token, 0);
  EXPECT_EQ(mild.Sample(logits).token, 0);
}

TEST(SamplerTest, FrequencyPenaltyGrowsWithTheCount) {
  const std::vector<float> logits = {3.0f, 2.5f};
  SamplingParams p;
  p.frequency_penalty = 0.3f;
  Sampler sampler(p, {});
  // counts -> adjusted logits: {0:0,1:0} 3.0/2.5; {0:1} 2.7/2.5; {0:2} 2.4/2.5;
  // {0:2,1:1} 2.4/2.2; {0:3,1:1} 2.1/2.2.
  const std::vector<int32_t> expected = {0, 0, 1, 0, 1};
  for (int32_t want : expected) EXPECT_EQ(sampler.Sample(logits).token, want);

  p.frequency_penalty = -0.3f;  // negative rewards repetition
  Sampler reward(p, {});
  EXPECT_EQ(reward.Sample(std::vector<float>{0.0f, 1.0f}).token, 1);
  EXPECT_EQ(reward.Sample(std::vector<float>{0.2f, 0.0f}).token, 1);  // 0.0 + 0.3 > 0.2
  EXPECT_EQ(reward.Sample(std::vector<float>{0.5f, 0.0f}).token, 1);  // 0.0 + 0.6 > 0.5
  EXPECT_EQ(reward.Sample(std::vector<float>{1.0f, 0.0f}).token, 0);  // 0.9 < 1.0
}

TEST(SamplerTest, LogitBiasBansAndForces) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, 3.0f};
  SamplingParams p;
  p.logit_bias = {{3, -100.0f}};
  EXPECT_EQ(Sampler(p, {}).Sample(logits).token, 2);

  p = Sampling(1.0f, 5);
  p.logit_bias = {{0, 100.0f}};
  Sampler forced(p, {});
  for (int i = 0; i < 1000; ++i) {
    const SampleResult r = forced.Sample(logits);
    ASSERT_EQ(r.token, 0);
    EXPECT_NEAR(r.logprob, LogSoftmax(logits)[0], 1e-6);  // reported from the raw logits
  }

  p.logit_bias = {{3, -100.0f}, {0, 100.0f}, {0, -100.0f}};  // a repeated id: last wins
  const std::vector<int> counts = CountDraws(p, logits, 2000);
  EXPECT_EQ(counts[0] + counts[3], 0);
}

TEST(SamplerTest, BannedIdsAreNeverDrawn) {
  const std::vector<float> logits(8, 1.0f);
  SamplingParams p = Sampling(1.0f);
  p.banned_ids = {2, 5, 1000, -3};  // out-of-range ids are ignored
  const std::vector<int> counts = CountDraws(p, logits, 8000);
  for (size_t i = 0; i < counts.size(); ++i) {
    if (i == 2 || i == 5) {
      EXPECT_EQ(counts[i], 0) << i;
    } else {
      EXPECT_GT(counts[i], 800) << i;
    }
  }

  SamplingParams greedy;
  greedy.banned_ids = {1};
  greedy.logit_bias = {{1, 100.0f}};  // a ban beats any bias
  EXPECT_EQ(Sampler(greedy, {}).Sample(std::vector<float>{0.5f, 9.0f, 0.7f}).token, 2);
}

TEST(SamplerTest, FullyBannedRowFallsBackToLowestAllowedId) {
  SamplingParams p = Sampling(1.0f);
  p.banned_ids = {0, 1};
  Sampler sampler(p, {});
  const SampleResult r = sampler.Sample(std::vector<float>{1.0f, 2.0f, -kInf, -kInf});
  EXPECT_EQ(r.token, 2);
  EXPECT_EQ(r.logprob, -kInf);

  p.banned_ids = {0, 1, 2};
  EXPECT_EQ(Sampler(p, {}).Sample(std::vector<float>{1.0f, 2.0f, 3.0f}).token, 0);
}

// ---- RNG ----

TEST(SamplerTest, SameSeedSameSequenceDifferentSeedDifferent) {
  const std::vector<float> logits = RandomLogits(256, 11, -1.0f, 1.0f);
  SamplingParams p = Sampling(1.0f, 42);
  p.top_k = 100;
  p.top_p = 0.95f;
  auto run = [&](uint64_t seed) {
    p.seed = seed;
    Sampler sampler(p, {});
    std::vector<int32_t> tokens;
    for (int i = 0; i < 1000; ++i) tokens.push_back(sampler.Sample(logits).token);
    return tokens;
  };
  const std::vector<int32_t> a = run(42);
  EXPECT_EQ(a, run(42));
  const std::vector<int32_t> b = run(43);
  EXPECT_NE(a, b);
  EXPECT_GT(std::set<int32_t>(a.begin(), a.end()).size(), 50u);
}

TEST(SamplerTest, DrawUsesTop53BitsOfOneMt19937_64OutputPerSample) {
  // Two equally likely tokens: the token is 1 exactly when u = (bits >> 11) * 2^-53 >= 0.5.
  Sampler sampler(Sampling(1.0f, 2024), {});
  std::mt19937_64 reference(2024);
  for (int i = 0; i < 500; ++i) {
    const double u = UnitIntervalFromBits(reference());
    EXPECT_EQ(sampler.Sample(std::vector<float>{0.25f, 0.25f}).token, u < 0.5 ? 0 : 1) << i;
  }
}

TEST(SamplerTest, UnitIntervalFromBits) {
  EXPECT_EQ(UnitIntervalFromBits(0), 0.0);
  EXPECT_EQ(UnitIntervalFromBits((uint64_t{1} << 11) - 1), 0.0);  // low 11 bits ignored
  EXPECT_EQ(UnitIntervalFromBits(uint64_t{1} << 63), 0.5);
  EXPECT_EQ(UnitIntervalFromBits(~uint64_t{0}), 1.0 - std::ldexp(1.0, -53));
}

TEST(SamplerTest, EmpiricalFrequenciesMatchSoftmax) {
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  const std::vector<float> logits = LogitsFromProbs(probs);
  const int draws = 20000;
  const std::vector<int> counts = CountDraws(Sampling(1.0f, 7), logits, draws);
  for (size_t i = 0; i < probs.size(); ++i) {
    EXPECT_NEAR(counts[i] / static_cast<double>(draws), probs[i], 0.01) << i;
  }

  // Temperature 2 samples softmax(logits / 2).
  const std::vector<int> hot = CountDraws(Sampling(2.0f, 8), logits, draws);
  double z = 0.0;
  for (double q : probs) z += std::sqrt(q);
  for (size_t i = 0; i < probs.size(); ++i) {
    EXPECT_NEAR(hot[i] / static_cast<double>(draws), std::sqrt(probs[i]) / z, 0.01) << i;
  }
}

// ---- logprobs ----

TEST(SamplerTest, LogprobsMatchLogSoftmaxOfRawLogits) {
  const std::vector<float> logits = RandomLogits(1000, 77, -20.0f, 20.0f);
  const std::vector<double> reference = LogSoftmax(logits);
  SamplingParams p = Sampling(0.7f, 3);
  p.top_logprobs = 5;
  p.repetition_penalty = 1.5f;
  p.presence_penalty = 1.0f;
  p.logit_bias = {{10, 5.0f}};
  Sampler sampler(p, std::vector<int32_t>{1, 2, 3});

  std::vector<int32_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
  });

  for (int step = 0; step < 10; ++step) {
    const SampleResult r = sampler.Sample(logits);
    EXPECT_NEAR(r.logprob, reference[static_cast<size_t>(r.token)], 1e-6);
    ASSERT_EQ(r.top.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(r.top[i].token, order[i]);
      EXPECT_NEAR(r.top[i].logprob, reference[static_cast<size_t>(order[i])], 1e-6);
      if (i > 0) {
        EXPECT_GE(r.top[i - 1].logprob, r.top[i].logprob);
      }
    }
  }
}

TEST(SamplerTest, TopLogprobsBreakTiesByLowerIdAndClampToVocab) {
  const std::vector<float> logits = {1.0f, 4.0f, 2.0f, 4.0f, 2.0f, -1.0f};
  const std::vector<double> reference = LogSoftmax(logits);
  SamplingParams p;
  p.top_logprobs = 4;
  const SampleResult r = Sampler(p, {}).Sample(logits);
  EXPECT_EQ(r.token, 1);
  const std::vector<int32_t> expected = {1, 3, 2, 4};
  ASSERT_EQ(r.top.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(r.top[i].token, expected[i]);
    EXPECT_NEAR(r.top[i].logprob, reference[static_cast<size_t>(expected[i])], 1e-6);
  }

  p.top_logprobs = 20;
  const SampleResult small = Sampler(p, {}).Sample(std::vector<float>{0.0f, 1.0f, 2.0f});
  ASSERT_EQ(small.top.size(), 3u);
  EXPECT_EQ(small.top[0].token, 2);
  EXPECT_EQ(small.top[2].token, 0);
}

TEST(SamplerTest, LogprobsAreStableForHugeLogits) {
  const std::vector<float> logits = {1e30f, 1e30f - 1e24f, -1e30f};
  Sampler sampler(SamplingParams{}, {});
  const SampleResult r = sampler.Sample(logits);
  EXPECT_EQ(r.token, 0);
  EXPECT_TRUE(std::isfinite(r.logprob));
  EXPECT_NEAR(r.logprob, 0.0, 1e-6);
}

TEST(SamplerTest, EmptyRowIsHarmless) {
  Sampler sampler(Sampling(1.0f), {});
  const SampleResult r = sampler.Sample(std::span<const float>{});
  EXPECT_EQ(r.token, 0);
  EXPECT_EQ(r.logprob, -kInf);
  EXPECT_TRUE(r.top.empty());
}

TEST(SamplerTest, UnvalidatedParamsDegradeSafely) {
  SamplingParams p;
  p.temperature = std::numeric_limits<float>::quiet_NaN();  // greedy
  p.top_k = -4;
  p.repetition_penalty = -1.0f;
  p.logit_bias = {{-1, 50.0f}, {99, 50.0f}};
  p.top_logprobs = 1000;
  Sampler sampler(p, std::vector<int32_t>{-5, 1 << 30});
  const SampleResult r = sampler.Sample(std::vector<float>{0.0f, 2.0f, 1.0f});
  EXPECT_EQ(r.token, 1);
  EXPECT_EQ(r.top.size(), 3u);
  // A different row size afterwards is fine.
  EXPECT_EQ(sampler.Sample(std::vector<float>{3.0f}).token, 0);
}

// ---- Validate ----

void ExpectRejected(const SamplingParams& p, const std::string& field) {
  const Status s = p.Validate(100);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << field;
  EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
}

TEST(SamplingParamsTest, ValidateAcceptsDefaultsAndBoundaries) {
  EXPECT_TRUE(SamplingParams{}.Validate(100).ok());
  SamplingParams p;
  p.temperature = 2.0f;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.top_k = 100000;
  p.repetition_penalty = 0.01f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.top_logprobs = 20;
  p.logit_bias = {{0, -100.0f}, {99, 100.0f}};
  p.banned_ids = {5};
  EXPECT_TRUE(p.Validate(100).ok()) << p.Validate(100).ToString();
}

TEST(SamplingParamsTest, ValidateRejectsEachBadField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto with = [](auto mutate) {
    SamplingParams p;
    mutate(p);
    return p;
  };
  ExpectRejected(with([&](SamplingParams& p) { p.temperature = nan; }), "temperature");
  ExpectRejected(with([](SamplingParams& p) { p.temperature = -0.5f; }), "temperature");
  ExpectRejected(with([](SamplingParams& p) { p.temperature = kInf; }), "temperature");
  ExpectRejected(with([](SamplingParams& p) { p.top_p = 0.0f; }), "top_p");
  ExpectRejected(with([](SamplingParams& p) { p.top_p = 1.5f; }), "top_p");
  ExpectRejected(with([&](SamplingParams& p) { p.top_p = nan; }), "top_p");
  ExpectRejected(with([](SamplingParams& p) { p.min_p = 2.0f; }), "min_p");
  ExpectRejected(with([](SamplingParams& p) { p.min_p = -0.1f; }), "min_p");
  ExpectRejected(with([](SamplingParams& p) { p.top_k = -1; }), "top_k");
  ExpectRejected(with([](SamplingParams& p) { p.repetition_penalty = 0.0f; }),
                 "repetition_penalty");
  ExpectRejected(with([&](SamplingParams& p) { p.repetition_penalty = nan; }),
                 "repetition_penalty");
  ExpectRejected(with([](SamplingParams& p) { p.presence_penalty = 3.0f; }), "presence_penalty");
  ExpectRejected(with([](SamplingParams& p) { p.frequency_penalty = 3.0f; }), "frequency_penalty");
  ExpectRejected(with([](SamplingParams& p) { p.frequency_penalty = -2.5f; }), "frequency_penalty");
  ExpectRejected(with([](SamplingParams& p) { p.top_logprobs = 21; }), "top_logprobs");
  ExpectRejected(with([](SamplingParams& p) { p.top_logprobs = -1; }), "top_logprobs");
  ExpectRejected(with([](SamplingParams& p) { p.logit_bias = {{100, 1.0f}}; }), "logit_bias");
  ExpectRejected(with([](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; }), "logit_bias");
  ExpectRejected(with([&](SamplingParams& p) { p.logit_bias = {{3, nan}}; }), "logit_bias");
  EXPECT_EQ(SamplingParams{}.Validate(0).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gf
