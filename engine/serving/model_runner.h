// ModelRunner: executes one StepPlan. Builds the batch of ForwardSegments (prefill chunks and
// decode tokens of several sequences), runs GoldFinchModel::Forward once, then samples, applies
// the output rules (stop strings, eos, max_tokens) and delivers each sequence's event to its
// sink. A sequence that cannot run fails alone: when the batched Forward fails (it validates
// before touching any state), every segment is retried alone and only the failing ones get an
// error event.
//
// Threads: engine thread only (it owns the model's scratch and the sequences in the plan).
#pragma once

#include <functional>
#include <vector>

#include "engine/model/goldfinch.h"
#include "engine/serving/active_sequence.h"
#include "engine/serving/step_plan.h"
#include "engine/tokenizer/tokenizer.h"

namespace gf {

struct RunnerStepStats {
  int64_t prompt_tokens = 0;   // prompt tokens prefilled this step
  int64_t sampled_tokens = 0;  // tokens sampled this step
};

class ModelRunner {
 public:
  ModelRunner(GoldFinchModel& model, const Tokenizer& tokenizer);

  // `sequences[i]` is the sequence of plan.chunks[i] (nullptr: skipped). Finished and failed
  // sequences are listed in the result; their final event has been delivered (done = true).
  StepResult Execute(const StepPlan& plan, const std::vector<ActiveSequence*>& sequences,
                     RunnerStepStats* stats);

  // Called on the engine thread for a sequence that finished normally (stop / length), right
  // before its final event is delivered (the engine stores its final prefix-cache snapshot here,
  // so a client that saw the final event finds the snapshot queued).
  void set_finish_hook(std::function<void(ActiveSequence&)> hook) {
    finish_hook_ = std::move(hook);
  }

 private:
  struct Slot {
    ActiveSequence* seq = nullptr;
    const ScheduledChunk* chunk = nullptr;
    std::span<const int32_t> tokens;
    LogitsMode mode = LogitsMode::kNone;
    size_t logits_offset = 0;  // floats into logits_
    int64_t rows = 0;          // logits rows
  };

  // First scheduling of a sequence: its state (fresh, or the restored prefix with the K/V the
  // engine prepared), sampler and output processor. An error fails the sequence alone.
  Status Prepare(ActiveSequence& seq);
  // Runs Forward over the slots; on a batch failure retries one by one and fails the bad ones.
  void RunForward(std::vector<Slot>& slots, StepResult& result);
  void GatherPromptLogprobs(const Slot& slot);
  void SampleAndEmit(const Slot& slot, StepResult& result, RunnerStepStats* stats);
  void Fail(ActiveSequence& seq, const Status& status, StepResult& result);

  GoldFinchModel& model_;
  const Tokenizer& tokenizer_;
  std::vector<float> logits_;
  std::function<void(ActiveSequence&)> finish_hook_;
};

// Logprob of `token` under log_softmax(row) and the `k` most likely alternatives (best first,
// ties to the lower id). Non-finite logits count as -inf.
float LogprobOf(std::span<const float> row, TokenId token, int k, std::vector<TokenLogprob>* top);

}  // namespace gf
