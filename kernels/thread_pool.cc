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

// Idle spin iterations before sleeping (a few tens of microseconds).
constexpr int kIdleSpins = 4000;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

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
#ifdef GF_HAVE_OPENBLAS
  openblas_set_num_threads(1);  // BLAS calls run inside this pool's tasks (see gemm.cc)
#endif
  StartWorkers(num_threads_ - 1);
}

ThreadPool::~ThreadPool() { StopWorkers(); }

void ThreadPool::SetNumThreads(int n) {
  if (n < 1) n = HardwareThreads();
#ifdef GF_HAVE_OPENBLAS
  openblas_set_num_threads(1);  // BLAS calls run inside this pool's tasks (see gemm.cc)
#endif
  if (n == num_threads_) return;
  StopWorkers();
  num_threads_ = n;
  StartWorkers(n - 1);
}

void ThreadPool::StartWorkers(int count) {
  uint32_t current_job;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutdown_ = false;
    current_job = job_.id;
  }
  workers_.reserve(static_cast<size_t>(count));
  // Each worker starts from the job current now, so it cannot miss a job posted before it first
  // takes the lock.
  for (int i = 0; i < count; ++i) {
    workers_.emplace_back([this, current_job] { WorkerLoop(current_job); });
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

void ThreadPool::WorkerLoop(uint32_t seen_job) {
  for (;;) {
    // Back-to-back jobs (decode issues many small ones) are picked up without a futex wake.
    for (int spin = 0; spin < kIdleSpins; ++spin) {
      if (published_id_.load(std::memory_order_acquire) != seen_job) break;
      CpuRelax();
    }
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return shutdown_ || job_.id != seen_job; });
      if (shutdown_) return;
      job = job_;
      seen_job = job.id;
    }
    t_inside_task = true;
    RunTasks(job);
    t_inside_task = false;
  }
}

void ThreadPool::RunTasks(const Job& job) {
  const uint64_t tag = static_cast<uint64_t>(job.id) << 32;
  for (;;) {
    uint64_t claim = claim_.load(std::memory_order_relaxed);
    do {
      if ((claim & ~0xffffffffull) != tag) return;  // a newer job replaced ours
      if (static_cast<int64_t>(claim & 0xffffffffull) >= job.size) return;
    } while (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel,
                                           std::memory_order_relaxed));
    job.fn(job.ctx, static_cast<int64_t>(claim & 0xffffffffull));
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == job.size) {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_.notify_all();
    }
  }
}

void ThreadPool::Run(int64_t n, TaskFn fn, void* ctx) {
  if (n <= 0) return;
  if (n == 1 || n > 0x7fffffff || workers_.empty() || t_inside_task || busy_.exchange(true)) {
    for (int64_t i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  Job job;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job = Job{fn, ctx, n, job_.id + 1};
    job_ = job;
    done_.store(0, std::memory_order_relaxed);
    claim_.store(static_cast<uint64_t>(job.id) << 32, std::memory_order_release);
    published_id_.store(job.id, std::memory_order_release);
  }
  wake_.notify_all();
  t_inside_task = true;
  RunTasks(job);
  t_inside_task = false;
  // Wait for tasks still running on workers: spin briefly, then sleep.
  for (int spin = 0; spin < kIdleSpins && done_.load(std::memory_order_acquire) != n; ++spin) {
    CpuRelax();
  }
  if (done_.load(std::memory_order_acquire) != n) {
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return done_.load(std::memory_order_acquire) == n; });
  }
  busy_.store(false);
}

void SetNumThreads(int n) { ThreadPool::Global().SetNumThreads(n); }
int NumThreads() { return ThreadPool::Global().num_threads(); }

}  // namespace gf::kernels
