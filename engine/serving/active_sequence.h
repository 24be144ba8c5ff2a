// ActiveSequence: the engine's record of one accepted request while it is queued or running.
// Owned by the Engine (unique_ptr in its table, so its address is stable); after Submit only
// the engine thread touches it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/prefix_cache/prefix_cache.h"
#include "engine/sampler.h"
#include "engine/sequence_state.h"
#include "engine/serving/output_processor.h"
#include "engine/serving/request.h"
#include "engine/serving/step_plan.h"

namespace gf {

struct ActiveSequence {
  SeqId id = 0;
  GenerateRequest request;
  std::shared_ptr<RequestSink> sink;
  std::chrono::steady_clock::time_point arrival;
  double queue_seconds = -1.0;  // set when first scheduled

  // Created when the sequence is first scheduled (a queued request holds no model state).
  std::optional<SequenceState> state;
  std::optional<Sampler> sampler;
  std::unique_ptr<OutputProcessor> output;

  TokenId next_input = 0;         // the last sampled token, fed by the next decode step
  int64_t completion_tokens = 0;  // tokens sampled so far
  // Prompt logprobs gathered over the prefill chunks (when requested), sent with the first event.
  std::optional<PromptLogprobs> prompt_logprobs;
  bool first_event_sent = false;
  bool done = false;  // the final event has been delivered

  // Prefix cache. `restored` is set by the lookup before admission and consumed by the runner
  // (Rematerialize) when the sequence is first scheduled.
  bool cache_enabled = false;  // look up and store (engine has a cache, request allows)
  std::optional<RestoredPrefix> restored;
  int64_t cached_tokens = 0;                // prompt tokens restored (reported in every event)
  std::vector<int64_t> snapshot_positions;  // ascending; where prefill chunks end for snapshots
  size_t next_snapshot = 0;                 // index of the next position not yet captured
  std::vector<int64_t> segment_ends;        // row segments covering the prefix captured so far
};

}  // namespace gf
