// Sampling one token from a logits row.
//
// Order of operations (as llama.cpp / vLLM): logit_bias -> repetition penalty (over the prompt
// and generated tokens: positive logits divided, negative multiplied) -> presence and frequency
// penalties (OpenAI semantics, over generated tokens: logit -= frequency*count +
// presence*(count>0)) -> banned ids set to -inf -> greedy when temperature == 0, else
// temperature scaling, top-k, top-p (nucleus, smallest set with cumulative prob >= top_p),
// min-p (drop tokens with p < min_p * p_max), renormalise and draw with the request's RNG.
// Log-probabilities reported are those of the model's distribution log_softmax(raw logits)
// (before any of the above, like OpenAI and vLLM's default), for the chosen token and the
// top `top_logprobs` tokens (ties broken by lower id).
// A Sampler is per request: it owns the RNG (seeded: same seed and inputs -> same tokens) and
// the generated-token counts. Not thread-safe.
//
// Draws: every non-greedy Sample consumes exactly one 64-bit output of std::mt19937_64 (fully
// specified by the standard), turned into u in [0,1) by UnitIntervalFromBits; the token is the
// first surviving candidate whose cumulative weight exceeds u * total, walking candidates in id
// order, or in (logit desc, id asc) order when top-k is active. Greedy consumes nothing.
// Ties anywhere (argmax, top-k, top-p boundary) go to the lower id.
// Malformed input never reads out of bounds: NaN logits count as -inf, +inf logits as the
// largest float; bias/banned/history ids outside the row are ignored; an empty row yields token
// 0 with logprob -inf and records nothing; a row with no finite processed logit (everything
// banned or -inf) yields the lowest non-banned id (0 if all are banned). Unvalidated params
// degrade safely: temperature <= 0 or NaN is greedy, top_k < 0 and NaN top_p/min_p disable
// their filter, non-finite penalties and repetition_penalty <= 0 are ignored. logit_bias with
// a repeated id: the last entry wins.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gf {

struct SamplingParams {
  float temperature = 0.0f;         // 0 = greedy
  int top_k = 0;                    // 0 = disabled
  float top_p = 1.0f;               // 1 = disabled
  float min_p = 0.0f;               // 0 = disabled
  float repetition_penalty = 1.0f;  // 1 = disabled
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;  // id -> added logit
  std::vector<int32_t> banned_ids;  // never sampled (e.g. ids with no vocabulary entry)
  uint64_t seed = 0;
  int top_logprobs = 0;  // 0..20 alternatives to report

  // InvalidArgument naming the field: non-finite values, temperature < 0, top_p not in (0,1],
  // min_p not in [0,1], top_k < 0, repetition_penalty <= 0, penalties outside [-2, 2],
  // top_logprobs outside [0, 20], bias ids outside [0, vocab_size).
  // Also rejects vocab_size <= 0 and non-finite bias values.
  Status Validate(int vocab_size) const;
};

// The top 53 bits of `bits` as a double in [0, 1): (bits >> 11) * 2^-53. Platform-independent.
double UnitIntervalFromBits(uint64_t bits);

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct SampleResult {
  int32_t token = 0;
  float logprob = 0.0f;           // of the chosen token
  std::vector<TokenLogprob> top;  // top_logprobs alternatives, best first
};

class Sampler {
 public:
  // `prompt` seeds the repetition-penalty history.
  Sampler(SamplingParams params, std::span<const int32_t> prompt);

  // Samples from `logits` (size = vocab) and records the token as generated.
  SampleResult Sample(std::span<const float> logits);

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;    // after bias, penalties and bans
    double weight;  // exp((logit - max) / temperature), unnormalised
  };
  // Per-id flags in adjustment_flags_.
  static constexpr uint8_t kBanned = 1;
  static constexpr uint8_t kAdjusted = 2;  // has a bias or a penalty to apply

  // (Re)builds adjustment_flags_ for a row of `vocab` logits when the size changed.
  void PrepareFlags(size_t vocab);
  // The processed logit of a flagged, non-banned id.
  float Adjust(int32_t id, float logit) const;
  // Top-k, top-p, min-p over candidates_ (non-empty, max logit `max_logit`), then one draw.
  int32_t DrawFromCandidates(float max_logit);
  // Logit descending, then id ascending.
  static bool Better(const Candidate& a, const Candidate& b);
  // Shrink candidates_ to the smallest Better-order prefix whose weight reaches `target` and
  // return the kept weight; KeepSortedNucleus needs candidates_ sorted, KeepNucleus keeps the
  // existing (id) order.
  double KeepSortedNucleus(double target);
  double KeepNucleus(double target);
  // The fallback when no id has a finite processed logit.
  int32_t FallbackToken(size_t vocab) const;
  void Record(int32_t token);

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int> generated_counts_;
  std::unordered_map<int32_t, int> context_counts_;  // prompt + generated (repetition penalty)
  std::unordered_map<int32_t, float> bias_;
  bool repetition_active_ = false;         // repetition_penalty finite, > 0 and != 1
  bool generated_active_ = false;          // a finite non-zero presence or frequency penalty
  std::vector<uint8_t> adjustment_flags_;  // per id of the current row size
  std::vector<Candidate> candidates_;
  std::vector<Candidate> scratch_;  // KeepNucleus working copy
};

}  // namespace gf
