// The persistent kernel thread pool (see thread_pool.h) and the public SetNumThreads/NumThreads.
#include "kernels/thread_pool.h"

#include "kernels/kernels.h"

#ifdef GF_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace gf::kernels {
namespace {

// True on a thread that is currently running ParallelFor tasks (nested calls run inline).
thread_local bool t_inside_task = false;

int HardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace

ThreadPool& ThreadPool::Global() {
  static ThreadPool* pool = new ThreadPool();  // never destroyed: workers may outlive statics
  return *pool;
}

ThreadPool::ThreadPool() {
  num_threads_ = HardwareThreads();
  StartWorkers(num_threads_ - 1);
}

ThreadPool::~ThreadPool() { StopWorkers(); }

void ThreadPool::SetNumThreads(int n) {
  if (n < 1) n = HardwareThreads();
#ifdef GF_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#endif
  if (n == num_threads_) return;
  StopWorkers();
  num_threads_ = n;
  StartWorkers(n - 1);
}

void ThreadPool::StartWorkers(int count) {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutdown_ = false;
    generation = generation_;
  }
  workers_.reserve(static_cast<size_t>(count));
  // Each worker starts from the generation current now, so it cannot miss a job posted before it
  // first takes the lock.
  for (int i = 0; i < count; ++i) {
    workers_.emplace_back([this, generation] { WorkerLoop(generation); });
  }
}

void ThreadPool::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutdown_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::WorkerLoop(uint64_t seen_generation) {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return shutdown_ || generation_ != seen_generation; });
      if (shutdown_) return;
      seen_generation = generation_;
    }
    t_inside_task = true;
    DrainCurrentJob();
    t_inside_task = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_workers_ == 0) finished_.notify_one();
    }
  }
}

void ThreadPool::DrainCurrentJob() {
  for (;;) {
    const int64_t i = next_index_.fetch_add(1, std::memory_order_relaxed);
    if (i >= job_size_) return;
    job_fn_(job_ctx_, i);
  }
}

void ThreadPool::Run(int64_t n, TaskFn fn, void* ctx) {
  if (n <= 0) return;
  if (n == 1 || workers_.empty() || t_inside_task || busy_.exchange(true)) {
    for (int64_t i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_fn_ = fn;
    job_ctx_ = ctx;
    job_size_ = n;
    next_index_.store(0, std::memory_order_relaxed);
    active_workers_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  t_inside_task = true;
  DrainCurrentJob();
  t_inside_task = false;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return active_workers_ == 0; });
  }
  busy_.store(false);
}

void SetNumThreads(int n) { ThreadPool::Global().SetNumThreads(n); }
int NumThreads() { return ThreadPool::Global().num_threads(); }

}  // namespace gf::kernels
