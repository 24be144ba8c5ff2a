// ActiveSequence: the engine's record of one accepted request while it is queued or running.
// Owned by the Engine (unique_ptr in its table, so its address is stable); after Submit only
// the engine thread touches it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

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
};

}  // namespace gf
