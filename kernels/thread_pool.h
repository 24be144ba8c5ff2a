// The kernels' persistent worker pool.
//
// Contract:
//  - One process-wide pool (ThreadPool::Global()) with NumThreads()-1 workers (they spin briefly
//    after a job, then sleep); the calling thread is the remaining participant. ParallelFor(n, fn)
//    runs fn(i) exactly once for every i in [0, n), distributing indices dynamically, and returns
//    when all calls have finished. A worker that wakes late simply finds no work left.
//  - fn must not throw. Calls from inside a running task (nested) or from a second thread while a
//    job is in flight run serially on the calling thread, so ParallelFor never deadlocks.
//  - SetNumThreads(n) (n < 1 means hardware concurrency) restarts the workers; it must not be
//    called while a ParallelFor is running. With GF_HAVE_OPENBLAS it also sets the BLAS threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace gf::kernels {

class ThreadPool {
 public:
  static ThreadPool& Global();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  void SetNumThreads(int n);
  int num_threads() const { return num_threads_; }

  template <typename Fn>
  void ParallelFor(int64_t n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    auto trampoline = [](void* ctx, int64_t i) { (*static_cast<F*>(ctx))(i); };
    Run(n, trampoline, const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using TaskFn = void (*)(void* ctx, int64_t index);
  struct Job {
    TaskFn fn = nullptr;
    void* ctx = nullptr;
    int64_t size = 0;
    uint32_t id = 0;
  };

  ThreadPool();
  void Run(int64_t n, TaskFn fn, void* ctx);
  void StartWorkers(int count);
  void StopWorkers();
  void WorkerLoop(uint32_t seen_job);
  // Claims and runs indices of `job` until none are left (or a newer job has replaced it).
  void RunTasks(const Job& job);

  int num_threads_ = 1;
  std::vector<std::thread> workers_;

  std::mutex mutex_;
  std::condition_variable wake_;      // workers wait for a new job (or shutdown)
  std::condition_variable finished_;  // the caller waits for the last task of its job
  Job job_;                           // the current job, guarded by mutex_
  bool shutdown_ = false;             // guarded by mutex_

  std::atomic<bool> busy_{false};          // a job is in flight
  std::atomic<uint32_t> published_id_{0};  // id of the latest job (lets idle workers spin)
  // (job id << 32) | next unclaimed index: a worker holding a stale job cannot claim new work.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};  // tasks of the current job that have finished
};

// Shorthand for ThreadPool::Global().ParallelFor.
template <typename Fn>
void ParallelFor(int64_t n, Fn&& fn) {
  ThreadPool::Global().ParallelFor(n, std::forward<Fn>(fn));
}

// Below this much work (multiply-adds or comparable element operations) a job runs on the
// calling thread: waking workers costs microseconds, and when another process holds the other
// cores a worker that claimed a task can be descheduled for a whole time slice (measured: a
// small model decoded 100x slower with 2 threads than with 1 while the other core was busy).
inline constexpr int64_t kMinParallelWork = int64_t{1} << 18;

// ParallelFor for `n` tasks of about `work_per_task` operations each: serial when the total is
// under kMinParallelWork.
template <typename Fn>
void ParallelForWork(int64_t n, int64_t work_per_task, Fn&& fn) {
  if (n * work_per_task < kMinParallelWork) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  ThreadPool::Global().ParallelFor(n, std::forward<Fn>(fn));
}

// Splits `items` into tasks of at least `min_items` items and about `work_per_item` operations
// each, so that no task is much smaller than kMinParallelWork / 4; returns the items per task.
inline int64_t ItemsPerTask(int64_t items, int64_t work_per_item, int64_t min_items) {
  const int64_t by_work = (kMinParallelWork / 4 + work_per_item - 1) / std::max<int64_t>(work_per_item, 1);
  return std::min(std::max<int64_t>({min_items, by_work, 1}), std::max<int64_t>(items, 1));
}

}  // namespace gf::kernels
