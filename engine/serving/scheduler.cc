#include "engine/serving/scheduler.h"

#include <algorithm>
#include <string>
#include <utility>

namespace gf {

Status SchedulerOptions::Validate() const {
  if (max_running < 1) {
    return InvalidArgument("max_running must be >= 1 (got " + std::to_string(max_running) + ")");
  }
  if (max_waiting < 1) {
    return InvalidArgument("max_waiting must be >= 1 (got " + std::to_string(max_waiting) + ")");
  }
  if (token_budget < 1) {
    return InvalidArgument("token_budget must be >= 1 (got " + std::to_string(token_budget) + ")");
  }
  if (max_prefill_chunk < 1) {
    return InvalidArgument("max_prefill_chunk must be >= 1 (got " +
                           std::to_string(max_prefill_chunk) + ")");
  }
  if (token_budget < max_running) {
    return InvalidArgument("token_budget (" + std::to_string(token_budget) +
                           ") must be >= max_running (" + std::to_string(max_running) +
                           ") so that every decoding sequence fits in one step");
  }
  return Status::Ok();
}

Scheduler::Scheduler(SchedulerOptions options) : options_(std::move(options)) {}

Status Scheduler::Add(SeqId id, int64_t prompt_tokens, bool ready) {
  if (prompt_tokens < 1) {
    return InvalidArgument("a sequence needs at least one prompt token (got " +
                           std::to_string(prompt_tokens) + ")");
  }
  if (entries_.count(id) != 0) {
    return AlreadyExists("sequence " + std::to_string(id) + " is already scheduled");
  }
  if (static_cast<int64_t>(waiting_.size()) >= options_.max_waiting) {
    return ResourceExhausted("the waiting queue is full (" + std::to_string(options_.max_waiting) +
                             " sequences)");
  }
  Entry entry;
  entry.prompt_tokens = prompt_tokens;
  entry.ready = ready;
  entries_.emplace(id, std::move(entry));
  waiting_.push_back(id);
  if (ready) ++ready_waiting_;
  return Status::Ok();
}

Status Scheduler::MarkReady(SeqId id, int64_t prefilled, std::vector<int64_t> breakpoints) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return NotFound("sequence " + std::to_string(id) + " is not queued");
  Entry& entry = it->second;
  if (std::find(waiting_.begin(), waiting_.end(), id) == waiting_.end()) {
    return FailedPrecondition("sequence " + std::to_string(id) + " was already admitted");
  }
  if (prefilled < 0 || prefilled >= entry.prompt_tokens) {
    return InvalidArgument("restored prefix of " + std::to_string(prefilled) +
                           " tokens does not leave a token of the " +
                           std::to_string(entry.prompt_tokens) + "-token prompt to run");
  }
  std::sort(breakpoints.begin(), breakpoints.end());
  breakpoints.erase(std::unique(breakpoints.begin(), breakpoints.end()), breakpoints.end());
  std::erase_if(breakpoints, [&](int64_t b) { return b <= prefilled || b >= entry.prompt_tokens; });
  entry.prefilled = prefilled;
  entry.breakpoints = std::move(breakpoints);
  if (!entry.ready) ++ready_waiting_;
  entry.ready = true;
  return Status::Ok();
}

bool Scheduler::Remove(SeqId id) {
  auto entry = entries_.find(id);
  if (entry == entries_.end()) return false;
  const bool was_ready = entry->second.ready;
  entries_.erase(entry);
  if (auto it = std::find(running_.begin(), running_.end(), id); it != running_.end()) {
    running_.erase(it);
  } else if (auto w = std::find(waiting_.begin(), waiting_.end(), id); w != waiting_.end()) {
    waiting_.erase(w);
    if (was_ready) --ready_waiting_;
  }
  return true;
}

StepPlan Scheduler::Schedule() {
  StepPlan plan;
  int64_t budget = options_.token_budget;
  const auto add_chunk = [&plan, &budget](const ScheduledChunk& chunk) {
    plan.chunks.push_back(chunk);
    plan.total_tokens += chunk.num_tokens;
    budget -= chunk.num_tokens;
    if (chunk.is_prefill) {
      ++plan.num_prefills;
    } else {
      ++plan.num_decodes;
    }
  };
  const auto add_prefill = [&](SeqId id, const Entry& entry) {
    const int64_t remaining = entry.prompt_tokens - entry.prefilled;
    int64_t size = std::min({remaining, options_.max_prefill_chunk, budget});
    const auto next =
        std::upper_bound(entry.breakpoints.begin(), entry.breakpoints.end(), entry.prefilled);
    if (next != entry.breakpoints.end()) size = std::min(size, *next - entry.prefilled);
    add_chunk({id, /*is_prefill=*/true, entry.prefilled, size,
               /*samples=*/size == remaining});
  };

  // 1. One token for every decoding sequence (the budget covers them all when the options are
  //    valid; with invalid options the step is simply cut short).
  for (SeqId id : running_) {
    const Entry& entry = entries_.at(id);
    if (entry.prefilled < entry.prompt_tokens || budget < 1) continue;
    add_chunk({id, /*is_prefill=*/false, 0, 1, /*samples=*/true});
  }
  // 2. Running sequences that are mid-prefill, oldest first.
  for (SeqId id : running_) {
    if (budget < 1) break;
    const Entry& entry = entries_.at(id);
    if (entry.prefilled < entry.prompt_tokens) add_prefill(id, entry);
  }
  // 3. Admit waiting sequences in FCFS order while there is room and budget.
  //    Sequences whose cache lookup is pending keep their place but are skipped.
  for (auto it = waiting_.begin(); it != waiting_.end() && budget >= 1 &&
                                   static_cast<int64_t>(running_.size()) < options_.max_running;) {
    const SeqId id = *it;
    const Entry& entry = entries_.at(id);
    if (!entry.ready) {
      ++it;
      continue;
    }
    it = waiting_.erase(it);
    --ready_waiting_;
    running_.push_back(id);
    add_prefill(id, entry);
  }
  return plan;
}

void Scheduler::Update(const StepPlan& plan, const StepResult& result) {
  for (const ScheduledChunk& chunk : plan.chunks) {
    if (!chunk.is_prefill) continue;
    auto it = entries_.find(chunk.id);
    // Removed since the plan was made (or removed and added again: then it is waiting, or its
    // prefill offset no longer matches the chunk).
    if (it == entries_.end()) continue;
    Entry& entry = it->second;
    if (chunk.first_token != entry.prefilled || chunk.num_tokens < 1) continue;
    if (std::find(running_.begin(), running_.end(), chunk.id) == running_.end()) continue;
    entry.prefilled = std::min(entry.prompt_tokens, entry.prefilled + chunk.num_tokens);
  }
  for (SeqId id : result.finished) Remove(id);
  for (SeqId id : result.failed) Remove(id);
}

}  // namespace gf
