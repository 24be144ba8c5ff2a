#include "engine/serving/model_runner.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gf {
namespace {

float Finite(float x) {
  return std::isfinite(x) ? x
                          : (x > 0 ? std::numeric_limits<float>::max()
                                   : -std::numeric_limits<float>::infinity());
}

GenerateEvent BaseEvent(const ActiveSequence& seq) {
  GenerateEvent event;
  event.prompt_tokens = static_cast<int64_t>(seq.request.prompt.size());
  event.completion_tokens = seq.completion_tokens;
  event.cached_tokens = seq.cached_tokens;
  event.queue_seconds = seq.queue_seconds;
  return event;
}

// K/V rows the sequence will hold at most (prompt + max_tokens): reserved up front so that the
// K/V buffers of a long context are never moved while it grows.
int64_t FinalRows(const ActiveSequence& seq) {
  return static_cast<int64_t>(seq.request.prompt.size()) +
         std::max<int64_t>(seq.request.max_tokens, 0);
}

}  // namespace

float LogprobOf(std::span<const float> row, TokenId token, int k, std::vector<TokenLogprob>* top) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (float x : row) max_logit = std::max(max_logit, Finite(x));
  double sum = 0.0;
  if (std::isfinite(max_logit)) {
    for (float x : row)
      sum += std::exp(static_cast<double>(Finite(x)) - static_cast<double>(max_logit));
  }
  const double log_norm = static_cast<double>(max_logit) + std::log(sum);
  auto logprob = [&](size_t i) {
    return static_cast<float>(static_cast<double>(Finite(row[i])) - log_norm);
  };
  if (top != nullptr) {
    top->clear();
    const size_t count = std::min(row.size(), static_cast<size_t>(std::max(k, 0)));
    if (count > 0) {
      std::vector<int32_t> ids(row.size());
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
      std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(count), ids.end(),
                        [&](int32_t a, int32_t b) {
                          const float la = Finite(row[static_cast<size_t>(a)]);
                          const float lb = Finite(row[static_cast<size_t>(b)]);
                          return la > lb || (la == lb && a < b);
                        });
      for (size_t i = 0; i < count; ++i) {
        top->push_back({ids[i], logprob(static_cast<size_t>(ids[i]))});
      }
    }
  }
  if (token < 0 || static_cast<size_t>(token) >= row.size()) {
    return -std::numeric_limits<float>::infinity();
  }
  return logprob(static_cast<size_t>(token));
}

ModelRunner::ModelRunner(GoldFinchModel& model, const Tokenizer& tokenizer)
    : model_(model), tokenizer_(tokenizer) {}

Status ModelRunner::Prepare(ActiveSequence& seq) {
  if (seq.state.has_value()) return Status::Ok();
  seq.queue_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - seq.arrival).count();
  if (seq.restored.has_value()) {
    // A prefix restored from the cache; the engine's cache thread gave it its K/V (a state
    // without them fails in Forward with FailedPrecondition).
    seq.state.emplace(std::move(seq.restored->state));
    seq.restored.reset();
  } else {
    seq.state.emplace(model_.NewState());
  }
  seq.state->ReserveKvCapacity(FinalRows(seq));
  seq.sampler.emplace(seq.request.sampling, seq.request.prompt);
  OutputRules rules;
  rules.stop = seq.request.stop;
  rules.stop_token_ids = seq.request.stop_token_ids;
  rules.eos_id = model_.config().eos_token_id;
  rules.ignore_eos = seq.request.ignore_eos;
  rules.max_tokens = seq.request.max_tokens;
  seq.output = std::make_unique<OutputProcessor>(tokenizer_, std::move(rules));
  if (seq.request.prompt_logprobs >= 0) seq.prompt_logprobs.emplace();
  return Status::Ok();
}

StepResult ModelRunner::Execute(const StepPlan& plan, const std::vector<ActiveSequence*>& sequences,
                                RunnerStepStats* stats) {
  StepResult result;
  std::vector<Slot> slots;
  slots.reserve(plan.chunks.size());
  const auto vocab = static_cast<size_t>(model_.config().vocab_size);
  size_t total_rows = 0;
  for (size_t i = 0; i < plan.chunks.size() && i < sequences.size(); ++i) {
    ActiveSequence* seq = sequences[i];
    if (seq == nullptr || seq->done) continue;
    const ScheduledChunk& chunk = plan.chunks[i];
    if (Status prepared = Prepare(*seq); !prepared.ok()) {
      Fail(*seq, prepared, result);
      continue;
    }
    Slot slot;
    slot.seq = seq;
    slot.chunk = &chunk;
    if (chunk.is_prefill) {
      const auto& prompt = seq->request.prompt;
      const auto first = static_cast<size_t>(chunk.first_token);
      const auto count = static_cast<size_t>(chunk.num_tokens);
      if (first + count > prompt.size() || count == 0 ||
          static_cast<int64_t>(first) != seq->state->num_tokens()) {
        Fail(*seq, Internal("scheduled prefill chunk outside the prompt"), result);
        continue;
      }
      slot.tokens = std::span<const int32_t>(prompt).subspan(first, count);
      if (seq->prompt_logprobs.has_value()) {
        slot.mode = LogitsMode::kAll;
        slot.rows = chunk.num_tokens;
      } else if (chunk.samples && seq->request.max_tokens > 0) {
        slot.mode = LogitsMode::kLast;
        slot.rows = 1;
      }
    } else {
      slot.tokens = std::span<const int32_t>(&seq->next_input, 1);
      slot.mode = LogitsMode::kLast;
      slot.rows = 1;
    }
    slot.logits_offset = total_rows * vocab;
    total_rows += static_cast<size_t>(slot.rows);
    slots.push_back(slot);
  }
  if (slots.empty()) return result;
  logits_.resize(std::max<size_t>(total_rows * vocab, 1));
  RunForward(slots, result);

  for (const Slot& slot : slots) {
    ActiveSequence& seq = *slot.seq;
    if (seq.done) continue;  // failed in RunForward
    if (slot.chunk->is_prefill) {
      if (stats != nullptr) stats->prompt_tokens += slot.chunk->num_tokens;
      if (seq.prompt_logprobs.has_value()) GatherPromptLogprobs(slot);
    }
    if (slot.chunk->samples) SampleAndEmit(slot, result, stats);
  }
  return result;
}

void ModelRunner::RunForward(std::vector<Slot>& slots, StepResult& result) {
  auto segment_of = [&](const Slot& slot) {
    ForwardSegment segment;
    segment.state = &*slot.seq->state;
    segment.tokens = slot.tokens;
    segment.logits_mode = slot.mode;
    segment.logits = slot.mode == LogitsMode::kNone ? nullptr : logits_.data() + slot.logits_offset;
    return segment;
  };
  std::vector<ForwardSegment> segments;
  segments.reserve(slots.size());
  for (const Slot& slot : slots) segments.push_back(segment_of(slot));
  if (model_.Forward(segments).ok()) return;
  // Forward validates before changing any state: run each alone so only bad ones fail.
  for (Slot& slot : slots) {
    const ForwardSegment one = segment_of(slot);
    const Status status = model_.Forward(std::span<const ForwardSegment>(&one, 1));
    if (!status.ok()) Fail(*slot.seq, status, result);
  }
}

void ModelRunner::GatherPromptLogprobs(const Slot& slot) {
  ActiveSequence& seq = *slot.seq;
  const auto& prompt = seq.request.prompt;
  const auto vocab = static_cast<size_t>(model_.config().vocab_size);
  PromptLogprobs& out = *seq.prompt_logprobs;
  for (int64_t r = 0; r < slot.rows; ++r) {
    const auto position = static_cast<size_t>(slot.chunk->first_token + r);
    if (position + 1 >= prompt.size()) break;  // the last row predicts the first new token
    std::span<const float> row(logits_.data() + slot.logits_offset + static_cast<size_t>(r) * vocab,
                               vocab);
    std::vector<TokenLogprob> top;
    out.logprob.push_back(LogprobOf(row, prompt[position + 1], seq.request.prompt_logprobs, &top));
    out.top.push_back(std::move(top));
  }
}

void ModelRunner::SampleAndEmit(const Slot& slot, StepResult& result, RunnerStepStats* stats) {
  ActiveSequence& seq = *slot.seq;
  GenerateEvent event = BaseEvent(seq);
  if (!seq.first_event_sent && seq.prompt_logprobs.has_value()) {
    event.prompt_logprobs = std::move(seq.prompt_logprobs);
    seq.prompt_logprobs.reset();
  }
  if (seq.request.max_tokens <= 0) {
    // Prompt only (echo / prompt logprobs): nothing is sampled.
    event.text = seq.output->Flush();
    event.finish = FinishReason::kLength;
  } else {
    const auto vocab = static_cast<size_t>(model_.config().vocab_size);
    const size_t row_index = static_cast<size_t>(slot.rows) - 1;  // the last row
    std::span<const float> row(logits_.data() + slot.logits_offset + row_index * vocab, vocab);
    const SampleResult sample = seq.sampler->Sample(row);
    GeneratedToken token;
    token.id = sample.token;
    if (seq.request.logprobs) {
      token.logprob = sample.logprob;
      token.top = sample.top;
    }
    seq.next_input = sample.token;
    ++seq.completion_tokens;
    if (stats != nullptr) ++stats->sampled_tokens;
    OutputProcessor::Step step = seq.output->Push(sample.token);
    event.text = std::move(step.text);
    event.finish = step.finish;
    event.tokens.push_back(std::move(token));
    event.completion_tokens = seq.completion_tokens;
  }
  seq.first_event_sent = true;
  if (event.finish != FinishReason::kNone) {
    seq.done = true;
    result.finished.push_back(seq.id);
    if (finish_hook_) finish_hook_(seq);
  }
  seq.sink->OnEvent(std::move(event));
}

void ModelRunner::Fail(ActiveSequence& seq, const Status& status, StepResult& result) {
  if (seq.done) return;
  GenerateEvent event = BaseEvent(seq);
  if (seq.output) event.text = seq.output->Flush();
  event.finish = FinishReason::kError;
  event.error = status;
  seq.done = true;
  result.failed.push_back(seq.id);
  seq.sink->OnEvent(std::move(event));
}

}  // namespace gf
