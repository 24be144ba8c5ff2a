// StepPlan and StepResult: the whole contract between the scheduler and the model runner.
// Plain values, no tensors.
#pragma once

#include <cstdint>
#include <vector>

namespace gf {

using SeqId = uint64_t;

// One sequence's share of a step.
struct ScheduledChunk {
  SeqId id = 0;
  bool is_prefill = false;  // prompt tokens [first_token, first_token + num_tokens)
  int64_t first_token = 0;  // prefill: offset into the prompt; decode: 0
  int64_t num_tokens = 0;   // prefill: chunk size (>= 1); decode: 1
  bool samples = false;     // a token is sampled after this chunk (decode, or the last chunk)
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;  // decodes first, then prefill chunks
  int64_t total_tokens = 0;            // sum of num_tokens
  int num_decodes = 0;
  int num_prefills = 0;
  bool empty() const { return chunks.empty(); }
};

// What the runner reports back for a step.
struct StepResult {
  std::vector<SeqId> finished;  // completed normally (stop / length / deadline) this step
  std::vector<SeqId> failed;    // failed this step (their error event has been sent)
};

}  // namespace gf
