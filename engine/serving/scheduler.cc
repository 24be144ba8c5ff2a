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

Status Scheduler::Add(SeqId id, int64_t prompt_tokens) {
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
  entries_.emplace(id, Entry{prompt_tokens, 0});
  waiting_.push_back(id);
  return Status::Ok();
}

bool Scheduler::Remove(SeqId id) {
  if (entries_.erase(id) == 0) return false;
  if (auto it = std::find(running_.begin(), running_.end(), id); it != running_.end()) {
    running_.erase(it);
  } else if (auto w = std::find(waiting_.begin(), waiting_.end(), id); w != waiting_.end()) {
    waiting_.erase(w);
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
    const int64_t size = std::min({remaining, options_.max_prefill_chunk, budget});
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
  while (budget >= 1 && !waiting_.empty() &&
         static_cast<int64_t>(running_.size()) < options_.max_running) {
    const SeqId id = waiting_.front();
    waiting_.pop_front();
    running_.push_back(id);
    add_prefill(id, entries_.at(id));
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
