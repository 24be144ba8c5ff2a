// Shared by the engine tests: the built-in model, a sink that collects a request's events, and
// a greedy reference run of the model without the engine (one prefill, then one decode step per
// token, stopping at eos).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/model/goldfinch.h"
#include "engine/serving/request.h"
#include "tests/test_support.h"

namespace gf::testing {

inline std::string BuiltinModelDir() { return SourceDir() + "/models/goldfinch-byte-small"; }

// The built-in model with F32 matrices (nullptr, with a test failure, when it cannot be loaded).
inline std::unique_ptr<GoldFinchModel> LoadBuiltinModel() {
  WeightLoadOptions options;
  options.matrix_dtype = kernels::DType::kF32;
  auto model = GoldFinchModel::Load(BuiltinModelDir(), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(*model) : nullptr;
}

// Collects one request's events; fails the test on an event after the final one.
class CollectingSink : public RequestSink {
 public:
  void OnEvent(GenerateEvent event) override {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_FALSE(finished_) << "event after the final event";
    if (event.finish != FinishReason::kNone) finished_ = true;
    events_.push_back(std::move(event));
    cv_.notify_all();
  }
  // Waits for the final event (up to 60 s).
  bool WaitFinal() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [this] { return finished_; });
  }
  // Waits until at least n events arrived (up to 60 s).
  bool WaitEvents(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return events_.size() >= n; });
  }
  std::vector<TokenId> Tokens() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<TokenId> ids;
    for (const auto& e : events_)
      for (const auto& t : e.tokens) ids.push_back(t.id);
    return ids;
  }
  std::string Text() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string text;
    for (const auto& e : events_) text += e.text;
    return text;
  }
  GenerateEvent Last() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.empty() ? GenerateEvent{} : events_.back();
  }
  std::vector<GenerateEvent> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<GenerateEvent> events_;
  bool finished_ = false;
};

// Greedy reference without the engine (and without any cache).
inline std::vector<TokenId> DirectGreedy(GoldFinchModel& model, const std::vector<TokenId>& prompt,
                                         int n) {
  SequenceState state = model.NewState();
  std::vector<float> logits;
  EXPECT_TRUE(model.Prefill(state, prompt, PrefillOptions{}, &logits).ok());
  std::vector<TokenId> out;
  for (int i = 0; i < n; ++i) {
    const auto best =
        static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(best);
    if (best == model.config().eos_token_id) break;
    SequenceState* states[] = {&state};
    const TokenId next[] = {best};
    EXPECT_TRUE(model.DecodeStep(states, next, &logits).ok());
  }
  return out;
}

}  // namespace gf::testing
