// Scheduler: iteration-level continuous batching with chunked prefill. A plain state machine:
// no tensors, no threads, no clocks; the engine calls it under its own lock.
//
// Life of a sequence: Add -> waiting (FCFS queue, bounded by max_waiting) -> admitted into
// running (bounded by max_running) -> prefilling in chunks -> decoding one token per step ->
// removed by Update (finished or failed) or by Remove (cancelled).
//
// Schedule() builds one step under a token budget:
//   1. every decoding sequence gets one token (decodes are never starved: Validate requires
//      token_budget >= max_running);
//   2. the remaining budget goes to prefill chunks in FCFS order: first the running sequences
//      that are mid-prefill (oldest first), then waiting sequences are admitted (while
//      running < max_running) and start their prefill. A chunk is
//      min(remaining prompt, max_prefill_chunk, budget left) tokens; a sequence gets at most
//      one chunk per step. A chunk that completes the prompt has `samples` set.
//   A chunk never crosses one of the sequence's breakpoints (the prefix cache's snapshot
//   positions), so the state is exact at each of them after some step.
// Prefix-cache lookups: a sequence added with ready = false waits (holding its place in the FCFS
// order and counting against max_waiting) and is skipped by admission until MarkReady, which may
// also start its prefill at a restored position.
// Update(plan, result) applies the step: prefill offsets advance by the scheduled chunk sizes;
// a sequence whose prompt completed becomes decoding; ids listed in result.finished or
// result.failed leave the scheduler. Ids in the plan that were Removed in between are ignored.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "engine/serving/step_plan.h"

namespace gf {

struct SchedulerOptions {
  int max_running = 32;             // sequences in the batch (prefilling or decoding)
  int max_waiting = 256;            // queued sequences not yet admitted
  int64_t token_budget = 512;       // tokens per step (decode tokens + prefill chunk tokens)
  int64_t max_prefill_chunk = 256;  // tokens of one sequence's prompt per step

  // InvalidArgument naming the field: values < 1, token_budget < max_running.
  Status Validate() const;
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions options);

  // Queues a sequence with `prompt_tokens` (>= 1) to prefill. ResourceExhausted when
  // max_waiting sequences are already waiting; AlreadyExists for a known id; InvalidArgument
  // for prompt_tokens < 1.
  Status Add(SeqId id, int64_t prompt_tokens, bool ready = true);

  // Makes a waiting sequence admissible: its prefill starts at `prefilled` (0 <= prefilled <
  // prompt_tokens; tokens restored from the prefix cache) and no chunk crosses a position in
  // `breakpoints` (any order; values outside (prefilled, prompt_tokens) are ignored).
  // NotFound for an unknown id; InvalidArgument for a bad offset; FailedPrecondition when the
  // sequence was already admitted.
  Status MarkReady(SeqId id, int64_t prefilled, std::vector<int64_t> breakpoints);

  // Removes a waiting or running sequence; false when the id is unknown.
  bool Remove(SeqId id);

  // The next step (empty when there is nothing to run).
  StepPlan Schedule();

  // Applies a step's outcome (see the file comment).
  void Update(const StepPlan& plan, const StepResult& result);

  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  bool empty() const { return running_.empty() && waiting_.empty(); }
  // Whether Schedule() can produce work: something running or a ready waiting sequence.
  bool has_work() const { return !running_.empty() || ready_waiting_ > 0; }
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Entry {
    int64_t prompt_tokens = 0;
    int64_t prefilled = 0;             // prompt tokens already scheduled and completed
    bool ready = true;                 // admissible (false while a cache lookup is pending)
    std::vector<int64_t> breakpoints;  // ascending, inside (prefilled, prompt_tokens)
  };

  SchedulerOptions options_;
  std::deque<SeqId> waiting_;                 // FCFS
  std::vector<SeqId> running_;                // admission order (oldest first)
  std::unordered_map<SeqId, Entry> entries_;  // waiting and running
  int64_t ready_waiting_ = 0;                 // waiting entries with ready == true
};

}  // namespace gf
