// Scheduler: option validation, FCFS admission and its bounds, one decode token per decoding
// sequence, chunked prefill under the token budget (exact chunk lists), `samples` placement,
// Update/Remove semantics, and a long seeded simulation with a fake runner checking the
// invariants at every step.
#include "engine/serving/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace gf {
namespace {

// "D<id>" for a decode, "P<id>@<first>+<n>" for a prefill chunk, "*" when it samples.
std::string Describe(const StepPlan& plan) {
  std::string out;
  for (const ScheduledChunk& c : plan.chunks) {
    if (!out.empty()) out += ' ';
    if (c.is_prefill) {
      out += "P" + std::to_string(c.id) + "@" + std::to_string(c.first_token) + "+" +
             std::to_string(c.num_tokens);
    } else {
      out += "D" + std::to_string(c.id) + (c.num_tokens == 1 ? "" : "?") +
             (c.first_token == 0 ? "" : "!");
    }
    if (c.samples) out += '*';
  }
  return out;
}

SchedulerOptions Options(int max_running, int max_waiting, int64_t budget, int64_t chunk) {
  SchedulerOptions options;
  options.max_running = max_running;
  options.max_waiting = max_waiting;
  options.token_budget = budget;
  options.max_prefill_chunk = chunk;
  return options;
}

TEST(SchedulerOptionsTest, ValidateNamesTheField) {
  EXPECT_TRUE(SchedulerOptions{}.Validate().ok());
  EXPECT_TRUE(Options(1, 1, 1, 1).Validate().ok());
  EXPECT_TRUE(Options(4, 1, 4, 1).Validate().ok());
  const struct {
    SchedulerOptions options;
    std::string field;
  } bad[] = {
      {Options(0, 1, 8, 8), "max_running"},       {Options(-3, 1, 8, 8), "max_running"},
      {Options(1, 0, 8, 8), "max_waiting"},       {Options(1, 1, 0, 8), "token_budget"},
      {Options(1, 1, 8, 0), "max_prefill_chunk"}, {Options(1, 1, 8, -1), "max_prefill_chunk"},
      {Options(9, 1, 8, 8), "token_budget"},
  };
  for (const auto& b : bad) {
    const Status status = b.options.Validate();
    ASSERT_FALSE(status.ok()) << b.field;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(b.field), std::string::npos) << status.message();
  }
}

TEST(SchedulerTest, EmptySchedulerGivesAnEmptyPlan) {
  Scheduler scheduler(Options(2, 2, 8, 4));
  EXPECT_TRUE(scheduler.empty());
  const StepPlan plan = scheduler.Schedule();
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(plan.total_tokens, 0);
  EXPECT_EQ(plan.num_decodes, 0);
  EXPECT_EQ(plan.num_prefills, 0);
  scheduler.Update(plan, {});
  EXPECT_TRUE(scheduler.empty());
}

TEST(SchedulerTest, AddRejectsBadPromptsDuplicatesAndAFullQueue) {
  Scheduler scheduler(Options(1, 2, 4, 4));
  EXPECT_EQ(scheduler.Add(1, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler.Add(1, -5).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(scheduler.Add(1, 3).ok());
  EXPECT_EQ(scheduler.Add(1, 3).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(scheduler.Add(2, 3).ok());
  EXPECT_EQ(scheduler.num_waiting(), 2);
  EXPECT_EQ(scheduler.Add(3, 3).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(scheduler.num_waiting(), 2);
  // Admitting 1 frees a waiting slot; 1 is still known (running), so re-adding it fails.
  const StepPlan plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P1@0+3*");
  EXPECT_EQ(scheduler.num_running(), 1);
  EXPECT_EQ(scheduler.num_waiting(), 1);
  EXPECT_EQ(scheduler.Add(1, 3).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(scheduler.Add(3, 3).ok());
  EXPECT_EQ(scheduler.Add(4, 3).code(), StatusCode::kResourceExhausted);
  // A finished id may be added again once there is room in the queue.
  scheduler.Update(plan, StepResult{{1}, {}});
  EXPECT_EQ(scheduler.Add(1, 1).code(), StatusCode::kResourceExhausted);  // 2 and 3 wait
  EXPECT_EQ(Describe(scheduler.Schedule()), "P2@0+3*");
  EXPECT_TRUE(scheduler.Add(1, 1).ok());
  EXPECT_EQ(scheduler.num_waiting(), 2);
}

TEST(SchedulerTest, AdmissionIsFcfsAndBoundedByMaxRunning) {
  Scheduler scheduler(Options(2, 8, 16, 16));
  for (SeqId id : {5, 3, 9, 1}) ASSERT_TRUE(scheduler.Add(id, 2).ok());
  StepPlan plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P5@0+2* P3@0+2*");
  EXPECT_EQ(scheduler.num_running(), 2);
  EXPECT_EQ(scheduler.num_waiting(), 2);
  scheduler.Update(plan, {});
  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "D5* D3*");
  scheduler.Update(plan, StepResult{{3}, {}});
  EXPECT_EQ(scheduler.num_running(), 1);
  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "D5* P9@0+2*");  // 9 before 1: FCFS
  scheduler.Update(plan, StepResult{{}, {5}});
  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "D9* P1@0+2*");
  scheduler.Update(plan, StepResult{{9, 1}, {}});
  EXPECT_TRUE(scheduler.empty());
  EXPECT_TRUE(scheduler.Schedule().empty());
}

TEST(SchedulerTest, ChunkedPrefillUnderTheBudgetStepByStep) {
  // Budget 8, chunk 5; prompts of 12 (id 1) and 3 (id 2).
  Scheduler scheduler(Options(4, 4, 8, 5));
  ASSERT_TRUE(scheduler.Add(1, 12).ok());
  ASSERT_TRUE(scheduler.Add(2, 3).ok());

  StepPlan plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P1@0+5 P2@0+3*");
  EXPECT_EQ(plan.total_tokens, 8);
  EXPECT_EQ(plan.num_prefills, 2);
  EXPECT_EQ(plan.num_decodes, 0);
  scheduler.Update(plan, {});

  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "D2* P1@5+5");
  EXPECT_EQ(plan.total_tokens, 6);
  EXPECT_EQ(plan.num_decodes, 1);
  EXPECT_EQ(plan.num_prefills, 1);
  scheduler.Update(plan, {});

  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "D2* P1@10+2*");
  EXPECT_EQ(plan.total_tokens, 3);
  scheduler.Update(plan, {});

  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "D1* D2*");  // decodes in admission order
  EXPECT_EQ(plan.total_tokens, 2);
  EXPECT_EQ(plan.num_decodes, 2);
  EXPECT_EQ(plan.num_prefills, 0);
  scheduler.Update(plan, StepResult{{2}, {}});

  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "D1*");
  scheduler.Update(plan, StepResult{{1}, {}});
  EXPECT_TRUE(scheduler.empty());
}

TEST(SchedulerTest, DecodesComeFirstAndPrefillGetsTheRest) {
  // Budget 4 with 3 decoders: one prefill token per step for the newcomer.
  Scheduler scheduler(Options(4, 4, 4, 8));
  for (SeqId id : {1, 2, 3}) ASSERT_TRUE(scheduler.Add(id, 1).ok());
  StepPlan plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P1@0+1* P2@0+1* P3@0+1*");
  scheduler.Update(plan, {});
  ASSERT_TRUE(scheduler.Add(4, 3).ok());
  for (int64_t offset = 0; offset < 3; ++offset) {
    plan = scheduler.Schedule();
    EXPECT_EQ(Describe(plan),
              "D1* D2* D3* P4@" + std::to_string(offset) + "+1" + (offset == 2 ? "*" : ""));
    EXPECT_EQ(plan.total_tokens, 4);
    scheduler.Update(plan, {});
  }
  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "D1* D2* D3* D4*");
}

TEST(SchedulerTest, MidPrefillSequencesGoBeforeNewAdmissions) {
  Scheduler scheduler(Options(3, 4, 6, 4));
  ASSERT_TRUE(scheduler.Add(1, 10).ok());
  ASSERT_TRUE(scheduler.Add(2, 10).ok());
  StepPlan plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P1@0+4 P2@0+2");
  scheduler.Update(plan, {});
  ASSERT_TRUE(scheduler.Add(3, 1).ok());
  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P1@4+4 P2@2+2");  // no budget left for 3
  EXPECT_EQ(scheduler.num_waiting(), 1);
  scheduler.Update(plan, {});
  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P1@8+2* P2@4+4");
  EXPECT_EQ(scheduler.num_waiting(), 1);
  scheduler.Update(plan, {});
  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "D1* P2@8+2* P3@0+1*");
  EXPECT_EQ(scheduler.num_waiting(), 0);
  EXPECT_EQ(scheduler.num_running(), 3);
}

TEST(SchedulerTest, UpdateWithoutResultsKeepsRepeatingTheSameChunkUntilApplied) {
  Scheduler scheduler(Options(1, 1, 4, 4));
  ASSERT_TRUE(scheduler.Add(7, 6).ok());
  const StepPlan first = scheduler.Schedule();
  EXPECT_EQ(Describe(first), "P7@0+4");
  // Scheduling again before Update plans the same chunk (offsets advance only in Update).
  EXPECT_EQ(Describe(scheduler.Schedule()), "P7@0+4");
  scheduler.Update(first, {});
  EXPECT_EQ(Describe(scheduler.Schedule()), "P7@4+2*");
}

TEST(SchedulerTest, RemoveFromWaitingAndRunning) {
  Scheduler scheduler(Options(1, 4, 8, 8));
  ASSERT_TRUE(scheduler.Add(1, 2).ok());
  ASSERT_TRUE(scheduler.Add(2, 2).ok());
  ASSERT_TRUE(scheduler.Add(3, 2).ok());
  EXPECT_FALSE(scheduler.Remove(99));
  EXPECT_TRUE(scheduler.Remove(2));  // waiting
  EXPECT_FALSE(scheduler.Remove(2));
  EXPECT_EQ(scheduler.num_waiting(), 2);
  StepPlan plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P1@0+2*");
  EXPECT_TRUE(scheduler.Remove(1));  // running, with a plan in flight
  EXPECT_EQ(scheduler.num_running(), 0);
  scheduler.Update(plan, StepResult{{1}, {1}});  // ignored: 1 is gone
  EXPECT_EQ(scheduler.num_running(), 0);
  EXPECT_EQ(scheduler.num_waiting(), 1);
  plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P3@0+2*");
  scheduler.Update(plan, {});
  EXPECT_EQ(Describe(scheduler.Schedule()), "D3*");
  EXPECT_TRUE(scheduler.Remove(3));
  EXPECT_TRUE(scheduler.empty());
}

TEST(SchedulerTest, PlanForARemovedAndReAddedIdIsIgnored) {
  Scheduler scheduler(Options(2, 4, 8, 3));
  ASSERT_TRUE(scheduler.Add(1, 5).ok());
  const StepPlan stale = scheduler.Schedule();
  EXPECT_EQ(Describe(stale), "P1@0+3");
  EXPECT_TRUE(scheduler.Remove(1));
  ASSERT_TRUE(scheduler.Add(1, 5).ok());  // a new sequence with the same id, waiting
  scheduler.Update(stale, {});
  // The new sequence starts from offset 0: the stale chunk was not applied to it.
  EXPECT_EQ(Describe(scheduler.Schedule()), "P1@0+3");
}

TEST(SchedulerTest, FailedAndFinishedLeaveInAnyState) {
  Scheduler scheduler(Options(2, 4, 8, 2));
  ASSERT_TRUE(scheduler.Add(1, 6).ok());
  ASSERT_TRUE(scheduler.Add(2, 6).ok());
  ASSERT_TRUE(scheduler.Add(3, 6).ok());
  StepPlan plan = scheduler.Schedule();
  EXPECT_EQ(Describe(plan), "P1@0+2 P2@0+2");
  // 1 fails mid-prefill; 3 (still waiting) is reported finished (e.g. its deadline passed).
  scheduler.Update(plan, StepResult{{3}, {1}});
  EXPECT_EQ(scheduler.num_running(), 1);
  EXPECT_EQ(scheduler.num_waiting(), 0);
  EXPECT_EQ(Describe(scheduler.Schedule()), "P2@2+2");
}

// ---- Seeded simulation with a fake runner ----

struct SimSeq {
  int64_t prompt = 0;
  int64_t prefilled = 0;     // as the runner saw it
  int64_t decodes_left = 0;  // decode tokens until the runner finishes it
  bool decoding = false;
  bool scheduled_once = false;
};

struct SimTotals {
  int accepted = 0;
  int rejected = 0;  // ResourceExhausted from Add
  int finished = 0;
};

void RunSimulation(uint32_t seed, SimTotals& totals) {
  std::mt19937 rng(seed);
  const auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  SchedulerOptions options;
  options.max_running = static_cast<int>(uniform(1, 8));
  options.max_waiting = static_cast<int>(uniform(1, 12));
  options.token_budget = uniform(options.max_running, options.max_running + 40);
  options.max_prefill_chunk = uniform(1, 24);
  ASSERT_TRUE(options.Validate().ok());
  Scheduler scheduler(options);

  std::map<SeqId, SimSeq> live;
  std::vector<SeqId> add_order;          // accepted ids, in Add order
  std::vector<SeqId> first_scheduled;    // ids in order of their first chunk
  std::set<SeqId> removed_before_start;  // cancelled while waiting
  std::set<SeqId> finished;
  SeqId next_id = 100;
  int accepted = 0;
  int left_early = 0;  // cancelled or failed
  const int kAddingSteps = 400;
  int step = 0;
  for (; step < 5000; ++step) {
    const bool adding = step < kAddingSteps;
    if (!adding && scheduler.empty()) break;
    // Arrivals.
    if (adding) {
      for (int64_t n = uniform(0, 3); n > 0; --n) {
        const SeqId id = next_id++;
        const int64_t prompt = uniform(1, 60);
        const Status status = scheduler.Add(id, prompt);
        const int waiting = scheduler.num_waiting();
        if (status.ok()) {
          live[id] = SimSeq{prompt, 0, uniform(1, 6), false, false};
          add_order.push_back(id);
          ++accepted;
          ASSERT_LE(waiting, options.max_waiting);
        } else {
          ++totals.rejected;
          ASSERT_EQ(status.code(), StatusCode::kResourceExhausted);
          ASSERT_EQ(waiting, options.max_waiting);
        }
      }
    }
    // Occasional cancellation of a random live sequence.
    if (!live.empty() && uniform(0, 19) == 0) {
      auto it = live.begin();
      std::advance(it, uniform(0, static_cast<int64_t>(live.size()) - 1));
      if (!it->second.scheduled_once) removed_before_start.insert(it->first);
      ASSERT_TRUE(scheduler.Remove(it->first));
      live.erase(it);
      ++left_early;
    }

    const int waiting_before = scheduler.num_waiting();
    const StepPlan plan = scheduler.Schedule();
    ASSERT_LE(scheduler.num_running(), options.max_running);
    ASSERT_LE(plan.total_tokens, options.token_budget);
    ASSERT_EQ(static_cast<int>(plan.chunks.size()), plan.num_decodes + plan.num_prefills);

    // Each sequence at most once; decodes first; totals add up.
    std::set<SeqId> seen;
    int64_t total = 0;
    bool in_prefills = false;
    int decodes = 0;
    for (const ScheduledChunk& c : plan.chunks) {
      ASSERT_TRUE(seen.insert(c.id).second) << "id " << c.id << " twice in step " << step;
      ASSERT_TRUE(live.count(c.id)) << "unknown id " << c.id;
      SimSeq& seq = live[c.id];
      total += c.num_tokens;
      if (c.is_prefill) {
        in_prefills = true;
        ASSERT_FALSE(seq.decoding);
        ASSERT_EQ(c.first_token, seq.prefilled);
        ASSERT_GE(c.num_tokens, 1);
        ASSERT_LE(c.num_tokens, std::min(options.max_prefill_chunk, seq.prompt - seq.prefilled));
        ASSERT_EQ(c.samples, c.first_token + c.num_tokens == seq.prompt);
      } else {
        ASSERT_FALSE(in_prefills) << "decode after a prefill chunk";
        ASSERT_TRUE(seq.decoding);
        ASSERT_EQ(c.num_tokens, 1);
        ASSERT_EQ(c.first_token, 0);
        ASSERT_TRUE(c.samples);
        ++decodes;
      }
      if (!seq.scheduled_once) {
        seq.scheduled_once = true;
        first_scheduled.push_back(c.id);
      }
    }
    ASSERT_EQ(total, plan.total_tokens);
    ASSERT_EQ(decodes, plan.num_decodes);
    // Every decoding sequence decodes in every step.
    for (const auto& [id, seq] : live) {
      if (seq.decoding) {
        ASSERT_TRUE(seen.count(id)) << "decoder " << id << " skipped";
      }
    }
    // The oldest mid-prefill sequence always progresses (no starvation).
    for (SeqId id : first_scheduled) {
      auto it = live.find(id);
      if (it == live.end() || it->second.decoding) continue;
      if (it->second.prefilled > 0) {
        ASSERT_TRUE(seen.count(id)) << "prefill of " << id << " stalled";
      }
      break;
    }
    // Work conserving: sequences stay waiting only when the batch or the budget is full.
    if (scheduler.num_waiting() > 0 && waiting_before > 0) {
      ASSERT_TRUE(scheduler.num_running() == options.max_running ||
                  plan.total_tokens == options.token_budget)
          << "step " << step;
    }

    // The fake runner: applies chunks, finishes a sequence after its k decode tokens, and
    // fails a few sequences at random.
    StepResult result;
    for (const ScheduledChunk& c : plan.chunks) {
      SimSeq& seq = live[c.id];
      if (c.is_prefill) {
        seq.prefilled += c.num_tokens;
        if (seq.prefilled == seq.prompt) seq.decoding = true;
      } else if (--seq.decodes_left == 0) {
        result.finished.push_back(c.id);
      }
    }
    if (!plan.chunks.empty() && uniform(0, 49) == 0) {
      const SeqId victim =
          plan.chunks[static_cast<size_t>(uniform(0, static_cast<int64_t>(plan.chunks.size()) - 1))]
              .id;
      if (std::find(result.finished.begin(), result.finished.end(), victim) ==
          result.finished.end()) {
        result.failed.push_back(victim);
      }
    }
    scheduler.Update(plan, result);
    for (SeqId id : result.finished) {
      finished.insert(id);
      live.erase(id);
    }
    for (SeqId id : result.failed) {
      live.erase(id);
      ++left_early;
    }
    ASSERT_EQ(scheduler.num_running() + scheduler.num_waiting(), static_cast<int>(live.size()));
  }
  ASSERT_LT(step, 5000) << "the simulation did not drain";
  EXPECT_TRUE(live.empty());
  // Every accepted sequence either finished or was cancelled / failed.
  EXPECT_EQ(static_cast<int>(finished.size()) + left_early, accepted);
  EXPECT_GE(accepted, 40);
  EXPECT_GE(finished.size(), 10u);
  totals.accepted += accepted;
  totals.finished += static_cast<int>(finished.size());
  // FCFS: first scheduling follows Add order (minus those cancelled before they started).
  std::vector<SeqId> expected_order;
  for (SeqId id : add_order) {
    if (!removed_before_start.count(id)) expected_order.push_back(id);
  }
  EXPECT_EQ(first_scheduled, expected_order);
}

TEST(SchedulerSimulationTest, InvariantsHoldOverManySeededRuns) {
  SimTotals totals;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    RunSimulation(seed, totals);
    if (::testing::Test::HasFatalFailure()) return;
  }
  // The runs covered both a saturated queue and plenty of completions.
  EXPECT_GT(totals.accepted, 4000);
  EXPECT_GT(totals.rejected, 1000);
  EXPECT_GT(totals.finished, 3000);
}

// A sequence waiting for its cache lookup keeps its FCFS place but is not admitted; the next
// ready one is. MarkReady starts the prefill at the restored offset and chunks stop at every
// breakpoint (the snapshot positions).
TEST(SchedulerCacheTest, PendingLookupIsSkippedThenStartsAtTheRestoredOffset) {
  Scheduler s(Options(4, 8, 64, 32));
  ASSERT_TRUE(s.Add(1, 100, /*ready=*/false).ok());
  ASSERT_TRUE(s.Add(2, 10).ok());
  EXPECT_TRUE(s.has_work());
  StepPlan plan = s.Schedule();
  EXPECT_EQ(Describe(plan), "P2@0+10*");
  s.Update(plan, {});
  EXPECT_EQ(s.num_waiting(), 1);
  ASSERT_TRUE(s.MarkReady(1, 40, {20, 50, 56, 90, 100, 140, 50}).ok());
  plan = s.Schedule();
  // Sequence 2 decodes; sequence 1 starts at 40 and stops at the breakpoint 50.
  EXPECT_EQ(Describe(plan), "D2* P1@40+10");
  s.Update(plan, {});
  plan = s.Schedule();
  EXPECT_EQ(Describe(plan), "D2* P1@50+6");
  s.Update(plan, {});
  plan = s.Schedule();
  EXPECT_EQ(Describe(plan), "D2* P1@56+32");  // the chunk limit comes before breakpoint 90
  s.Update(plan, {});
  plan = s.Schedule();
  EXPECT_EQ(Describe(plan), "D2* P1@88+2");
  s.Update(plan, {});
  plan = s.Schedule();
  EXPECT_EQ(Describe(plan), "D2* P1@90+10*");  // 100 is the prompt end, not a breakpoint
}

TEST(SchedulerCacheTest, OnlyPendingLookupsMeansNoWork) {
  Scheduler s(Options(2, 2, 8, 8));
  ASSERT_TRUE(s.Add(7, 5, /*ready=*/false).ok());
  EXPECT_FALSE(s.empty());
  EXPECT_FALSE(s.has_work());
  EXPECT_TRUE(s.Schedule().empty());
  // Pending lookups count against max_waiting.
  ASSERT_TRUE(s.Add(8, 5, /*ready=*/false).ok());
  EXPECT_EQ(s.Add(9, 5).code(), StatusCode::kResourceExhausted);
  // Bad restore offsets are refused; the sequence stays pending.
  EXPECT_EQ(s.MarkReady(7, 5, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.MarkReady(7, -1, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.MarkReady(42, 0, {}).code(), StatusCode::kNotFound);
  EXPECT_FALSE(s.has_work());
  ASSERT_TRUE(s.MarkReady(7, 4, {}).ok());
  EXPECT_TRUE(s.has_work());
  // A removed pending sequence leaves no trace.
  EXPECT_TRUE(s.Remove(8));
  StepPlan plan = s.Schedule();
  EXPECT_EQ(Describe(plan), "P7@4+1*");
  s.Update(plan, {});
  EXPECT_EQ(s.MarkReady(7, 0, {}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.num_waiting(), 0);
}

}  // namespace
}  // namespace gf
