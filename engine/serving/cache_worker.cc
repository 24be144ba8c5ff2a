#include "engine/serving/cache_worker.h"

#include <utility>

namespace gf {

CacheWorker::CacheWorker(std::shared_ptr<PrefixCache> cache, size_t max_pending_bytes)
    : cache_(std::move(cache)), max_pending_bytes_(max_pending_bytes) {
  lookup_thread_ = std::thread([this] { LookupLoop(); });
  store_thread_ = std::thread([this] { StoreLoop(); });
}

CacheWorker::~CacheWorker() { Stop(); }

bool CacheWorker::SubmitLookup(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return false;
    lookups_.push_back(std::move(job));
  }
  lookup_cv_.notify_one();
  return true;
}

bool CacheWorker::SubmitStore(SnapshotCapture capture) {
  const size_t bytes = capture.bytes();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || pending_bytes_ + bytes > max_pending_bytes_) {
      ++dropped_;
      return false;
    }
    pending_bytes_ += bytes;
    stores_.push_back(std::move(capture));
  }
  store_cv_.notify_one();
  return true;
}

bool CacheWorker::WaitForStores(std::chrono::steady_clock::duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return stores_done_cv_.wait_for(lock, timeout,
                                  [this] { return stores_.empty() && stores_in_flight_ == 0; });
}

void CacheWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ && !lookup_thread_.joinable() && !store_thread_.joinable()) return;
    stop_ = true;
  }
  lookup_cv_.notify_all();
  store_cv_.notify_all();
  if (lookup_thread_.joinable()) lookup_thread_.join();
  if (store_thread_.joinable()) store_thread_.join();
}

uint64_t CacheWorker::captures_dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

uint64_t CacheWorker::pending_store_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_bytes_;
}

void CacheWorker::LookupLoop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      lookup_cv_.wait(lock, [this] { return stop_ || !lookups_.empty(); });
      if (stop_) {
        lookups_.clear();
        return;
      }
      job = std::move(lookups_.front());
      lookups_.pop_front();
    }
    job();
  }
}

void CacheWorker::StoreLoop() {
  while (true) {
    SnapshotCapture capture;
    {
      std::unique_lock<std::mutex> lock(mu_);
      store_cv_.wait(lock, [this] { return stop_ || !stores_.empty(); });
      if (stores_.empty()) return;  // stopping and drained
      capture = std::move(stores_.front());
      stores_.pop_front();
      stores_in_flight_ = 1;
    }
    const size_t bytes = capture.bytes();
    (void)cache_->Store(capture);  // failures are counted by the cache
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_bytes_ -= bytes;
      stores_in_flight_ = 0;
    }
    stores_done_cv_.notify_all();
  }
}

}  // namespace gf
