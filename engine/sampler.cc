// Token sampling: see sampler.h for the order of operations and the edge-case contract.
//
// Cost per Sample over a vocabulary of V: greedy is one pass over the row (processed argmax,
// online log-sum-exp of the raw logits and the top_logprobs alternatives fused). Sampling adds
// a pass that builds the candidate list (id order), nth_element + sort of the k best for top-k
// (O(V + k log k)), and for top-p an expected-O(V) weighted quickselect of the nucleus boundary
// on a scratch copy, after which the nucleus keeps id order (no sort of the nucleus).
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

namespace gf {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr double kNegInfD = -std::numeric_limits<double>::infinity();
constexpr int kMaxTopLogprobs = 20;
constexpr float kPenaltyBound = 2.0f;
// The nucleus quickselect sorts what is left once the range is this small.
constexpr size_t kNucleusSortBelow = 32;

std::string FormatNumber(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

Status FieldError(const std::string& field, const std::string& requirement, double value) {
  return InvalidArgument("sampling parameter " + field + " " + requirement + " (got " +
                         FormatNumber(value) + ")");
}

// NaN -> -inf, +inf -> the largest float, so that differences of logits stay finite.
float Sanitize(float logit) {
  if (std::isnan(logit)) return kNegInf;
  if (logit == std::numeric_limits<float>::infinity()) return std::numeric_limits<float>::max();
  return logit;
}

// log(sum(exp(x))) in double, in one pass (rescaling the running sum at each new maximum).
class OnlineLogSumExp {
 public:
  void Add(float logit) {
    if (logit == kNegInf) return;
    const double x = static_cast<double>(logit);
    if (x > max_) {
      sum_ = sum_ * std::exp(max_ - x) + 1.0;
      max_ = x;
    } else {
      sum_ += std::exp(x - max_);
    }
  }
  // -inf when nothing finite was added.
  double Value() const { return sum_ > 0.0 ? max_ + std::log(sum_) : kNegInfD; }

 private:
  double max_ = kNegInfD;
  double sum_ = 0.0;
};

float LogProb(float logit, double log_normaliser) {
  if (logit == kNegInf || log_normaliser == kNegInfD) return kNegInf;
  return static_cast<float>(static_cast<double>(logit) - log_normaliser);
}

// The n best (logit desc, id asc) of logits offered in increasing id order.
class TopAlternatives {
 public:
  explicit TopAlternatives(size_t n) : n_(n) { items_.reserve(n + 1); }

  void Offer(int32_t id, float logit) {
    if (n_ == 0) return;
    // Ids arrive in increasing order, so an equal logit never displaces an earlier id.
    if (items_.size() == n_ && !(logit > items_.back().logprob)) return;
    auto pos = std::upper_bound(
        items_.begin(), items_.end(), logit,
        [](float value, const TokenLogprob& item) { return value > item.logprob; });
    items_.insert(pos, TokenLogprob{id, logit});
    if (items_.size() > n_) items_.pop_back();
  }

  // The alternatives with logits turned into logprobs.
  std::vector<TokenLogprob> Take(double log_normaliser) {
    for (TokenLogprob& item : items_) item.logprob = LogProb(item.logprob, log_normaliser);
    return std::move(items_);
  }

 private:
  size_t n_;
  std::vector<TokenLogprob> items_;
};

bool IsFiniteNonZero(float value) { return std::isfinite(value) && value != 0.0f; }

}  // namespace

bool Sampler::Better(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

double UnitIntervalFromBits(uint64_t bits) {
  constexpr double kTwoToMinus53 = 1.0 / 9007199254740992.0;  // 2^-53
  return static_cast<double>(bits >> 11) * kTwoToMinus53;
}

Status SamplingParams::Validate(int vocab_size) const {
  if (vocab_size <= 0) {
    return InvalidArgument("vocab_size must be positive (got " + std::to_string(vocab_size) + ")");
  }
  if (!std::isfinite(temperature) || temperature < 0.0f) {
    return FieldError("temperature", "must be finite and >= 0", static_cast<double>(temperature));
  }
  if (top_k < 0) return FieldError("top_k", "must be >= 0", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    return FieldError("top_p", "must be in (0, 1]", static_cast<double>(top_p));
  }
  if (!(min_p >= 0.0f && min_p <= 1.0f)) {
    return FieldError("min_p", "must be in [0, 1]", static_cast<double>(min_p));
  }
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0f) {
    return FieldError("repetition_penalty", "must be finite and > 0",
                      static_cast<double>(repetition_penalty));
  }
  if (!(presence_penalty >= -kPenaltyBound && presence_penalty <= kPenaltyBound)) {
    return FieldError("presence_penalty", "must be in [-2, 2]",
                      static_cast<double>(presence_penalty));
  }
  if (!(frequency_penalty >= -kPenaltyBound && frequency_penalty <= kPenaltyBound)) {
    return FieldError("frequency_penalty", "must be in [-2, 2]",
                      static_cast<double>(frequency_penalty));
  }
  if (top_logprobs < 0 || top_logprobs > kMaxTopLogprobs) {
    return FieldError("top_logprobs", "must be in [0, 20]", top_logprobs);
  }
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0 || id >= vocab_size) {
      return InvalidArgument("sampling parameter logit_bias has token id " + std::to_string(id) +
                             " outside [0, " + std::to_string(vocab_size) + ")");
    }
    if (!std::isfinite(bias)) {
      return FieldError("logit_bias", "values must be finite, token id " + std::to_string(id),
                        static_cast<double>(bias));
    }
  }
  return Status::Ok();
}

Sampler::Sampler(SamplingParams params, std::span<const int32_t> prompt)
    : params_(std::move(params)), rng_(params_.seed) {
  for (const auto& [id, bias] : params_.logit_bias) bias_[id] = bias;  // last entry wins
  for (int32_t id : prompt) ++context_counts_[id];
  const float rp = params_.repetition_penalty;
  repetition_active_ = std::isfinite(rp) && rp > 0.0f && rp != 1.0f;
  generated_active_ =
      IsFiniteNonZero(params_.presence_penalty) || IsFiniteNonZero(params_.frequency_penalty);
}

void Sampler::PrepareFlags(size_t vocab) {
  if (adjustment_flags_.size() == vocab) return;
  adjustment_flags_.assign(vocab, 0);
  auto flag = [&](int32_t id, uint8_t bit) {
    if (id >= 0 && static_cast<size_t>(id) < vocab)
      adjustment_flags_[static_cast<size_t>(id)] |= bit;
  };
  for (const auto& entry : bias_) flag(entry.first, kAdjusted);
  if (repetition_active_) {
    for (const auto& entry : context_counts_) flag(entry.first, kAdjusted);
  }
  if (generated_active_) {
    for (const auto& entry : generated_counts_) flag(entry.first, kAdjusted);
  }
  for (int32_t id : params_.banned_ids) flag(id, kBanned);
}

float Sampler::Adjust(int32_t id, float logit) const {
  if (auto it = bias_.find(id); it != bias_.end()) logit += it->second;
  if (repetition_active_ && context_counts_.contains(id)) {
    const float rp = params_.repetition_penalty;
    logit = logit > 0.0f ? logit / rp : logit * rp;
  }
  if (generated_active_) {
    if (auto it = generated_counts_.find(id); it != generated_counts_.end() && it->second > 0) {
      const float presence =
          std::isfinite(params_.presence_penalty) ? params_.presence_penalty : 0.0f;
      const float frequency =
          std::isfinite(params_.frequency_penalty) ? params_.frequency_penalty : 0.0f;
      logit -= frequency * static_cast<float>(it->second) + presence;
    }
  }
  return Sanitize(logit);
}

SampleResult Sampler::Sample(std::span<const float> logits) {
  SampleResult result;
  if (logits.empty()) {
    result.logprob = kNegInf;
    return result;
  }
  // Token ids are int32: a longer row is treated as its first INT32_MAX entries.
  const size_t vocab =
      std::min(logits.size(), static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  PrepareFlags(vocab);

  const bool greedy = !(params_.temperature > 0.0f);
  const size_t alternatives =
      std::min(static_cast<size_t>(std::max(params_.top_logprobs, 0)), vocab);
  OnlineLogSumExp log_sum_exp;
  TopAlternatives top(alternatives);
  float best_logit = kNegInf;
  int32_t best_id = -1;
  if (!greedy) candidates_.clear();

  for (size_t i = 0; i < vocab; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    const float raw = Sanitize(logits[i]);
    log_sum_exp.Add(raw);
    top.Offer(id, raw);
    const uint8_t flags = adjustment_flags_[i];
    if (flags & kBanned) continue;
    const float logit = (flags & kAdjusted) ? Adjust(id, raw) : raw;
    if (logit == kNegInf) continue;
    if (logit > best_logit) {
      best_logit = logit;
      best_id = id;
    }
    if (!greedy) candidates_.push_back(Candidate{id, logit, 0.0});
  }

  int32_t token = 0;
  if (best_id < 0) {
    token = FallbackToken(vocab);
  } else if (greedy) {
    token = best_id;
  } else {
    token = DrawFromCandidates(best_logit);
  }

  const double log_normaliser = log_sum_exp.Value();
  result.token = token;
  result.logprob = LogProb(Sanitize(logits[static_cast<size_t>(token)]), log_normaliser);
  result.top = top.Take(log_normaliser);
  Record(token);
  return result;
}

int32_t Sampler::DrawFromCandidates(float max_logit) {
  bool sorted = false;  // candidates_ is in id order until top-k sorts it

  const int top_k = params_.top_k;
  if (top_k > 0 && static_cast<size_t>(top_k) < candidates_.size()) {
    const auto kth = candidates_.begin() + top_k;
    std::nth_element(candidates_.begin(), kth, candidates_.end(), Better);
    candidates_.resize(static_cast<size_t>(top_k));
    std::sort(candidates_.begin(), candidates_.end(), Better);
    sorted = true;
  }

  const double temperature = static_cast<double>(params_.temperature);
  const double shift = static_cast<double>(max_logit);
  double total = 0.0;
  for (Candidate& c : candidates_) {
    c.weight = std::exp((static_cast<double>(c.logit) - shift) / temperature);
    total += c.weight;
  }
  // Underflowed weights can never be drawn; dropping them keeps the filters cheap. The best
  // candidate has weight exp(0) = 1, so at least one remains.
  std::erase_if(candidates_, [](const Candidate& c) { return !(c.weight > 0.0); });

  if (params_.top_p < 1.0f && candidates_.size() > 1) {
    const double target = static_cast<double>(params_.top_p) * total;
    total = sorted ? KeepSortedNucleus(target) : KeepNucleus(target);
  }

  if (params_.min_p > 0.0f && candidates_.size() > 1) {
    double max_weight = 0.0;
    for (const Candidate& c : candidates_) max_weight = std::max(max_weight, c.weight);
    const double threshold = static_cast<double>(params_.min_p) * max_weight;
    std::erase_if(candidates_, [threshold](const Candidate& c) { return c.weight < threshold; });
    total = 0.0;
    for (const Candidate& c : candidates_) total += c.weight;
  }

  const double target = UnitIntervalFromBits(rng_()) * total;
  double cumulative = 0.0;
  for (const Candidate& c : candidates_) {
    cumulative += c.weight;
    if (target < cumulative) return c.id;
  }
  return candidates_.back().id;  // rounding: target reached the very end of the sum
}

double Sampler::KeepSortedNucleus(double target) {
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += candidates_[i].weight;
    if (cumulative >= target) {
      candidates_.resize(i + 1);
      return cumulative;
    }
  }
  return cumulative;  // rounding kept everything
}

double Sampler::KeepNucleus(double target) {
  // Weighted quickselect on a copy for the boundary: the candidate b (in Better order) with
  // mass(better than b) < target <= mass(better than b) + weight(b). Expected O(n).
  scratch_.assign(candidates_.begin(), candidates_.end());
  const auto at = [this](size_t i) { return scratch_.begin() + static_cast<std::ptrdiff_t>(i); };
  size_t lo = 0;
  size_t hi = scratch_.size();
  // Mass of everything better than scratch_[lo, hi).
  double above = 0.0;
  // Pivot positions come from a fixed-seed LCG; the boundary found does not depend on them.
  uint64_t pivot_state = 0x9E3779B97F4A7C15ull;
  std::optional<Candidate> boundary;
  while (!boundary && hi - lo > kNucleusSortBelow) {
    pivot_state = pivot_state * 6364136223846793005ull + 1442695040888963407ull;
    std::iter_swap(at(lo + static_cast<size_t>((pivot_state >> 33) % (hi - lo))), at(hi - 1));
    const Candidate pivot = scratch_[hi - 1];
    const auto split = std::partition(at(lo), at(hi - 1),
                                      [&pivot](const Candidate& c) { return Better(c, pivot); });
    std::iter_swap(split, at(hi - 1));
    const size_t mid = static_cast<size_t>(split - scratch_.begin());
    double better_mass = 0.0;
    for (size_t i = lo; i < mid; ++i) better_mass += scratch_[i].weight;
    if (above + better_mass >= target) {
      hi = mid;  // the boundary is strictly better than the pivot (mid > lo: above < target)
    } else if (above + better_mass + pivot.weight >= target) {
      boundary = pivot;
    } else {
      above += better_mass + pivot.weight;
      lo = mid + 1;
    }
  }
  if (!boundary) {
    std::sort(at(lo), at(hi), Better);
    for (size_t i = lo; i < hi && !boundary; ++i) {
      above += scratch_[i].weight;
      if (above >= target || i + 1 == hi) boundary = scratch_[i];  // last one: rounding
    }
  }
  if (!boundary) return above;  // rounding: every candidate was needed, keep them all
  const Candidate last = *boundary;
  std::erase_if(candidates_, [&last](const Candidate& c) { return Better(last, c); });
  double kept = 0.0;
  for (const Candidate& c : candidates_) kept += c.weight;
  return kept;
}

int32_t Sampler::FallbackToken(size_t vocab) const {
  for (size_t i = 0; i < vocab; ++i) {
    if (!(adjustment_flags_[i] & kBanned)) return static_cast<int32_t>(i);
  }
  return 0;
}

void Sampler::Record(int32_t token) {
  ++generated_counts_[token];
  ++context_counts_[token];
  if (repetition_active_ || generated_active_) {
    adjustment_flags_[static_cast<size_t>(token)] |= kAdjusted;
  }
}

}  // namespace gf
