// CacheWorker: the prefix cache's background threads, so that the engine thread never waits on
// cache I/O. One thread runs lookups (jobs queued by Engine::Submit, FIFO; the engine's job also
// gives the restored state its K/V), one stores snapshots captured on the engine thread (FIFO,
// so a snapshot's earlier segments are written first).
//
// Bounds: queued captures hold at most max_pending_bytes (SnapshotCapture::bytes()); a capture
// that does not fit is dropped and counted (the cache is an optimisation: dropping is always
// correct). Lookups are not bounded here (the scheduler's max_waiting bounds them).
//
// Threads: every method may be called from any thread. Stop() discards queued lookups (their
// requests are being cancelled), finishes the queued stores, and joins both threads; the
// destructor calls it. Jobs must not call back into the worker synchronously.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/prefix_cache/prefix_cache.h"

namespace gf {

class CacheWorker {
 public:
  CacheWorker(std::shared_ptr<PrefixCache> cache, size_t max_pending_bytes);
  ~CacheWorker();
  CacheWorker(const CacheWorker&) = delete;
  CacheWorker& operator=(const CacheWorker&) = delete;

  // Queues a lookup job (run on the lookup thread). False after Stop().
  bool SubmitLookup(std::function<void()> job);
  // Queues a capture for PrefixCache::Store. False when it was dropped (over the byte bound, or
  // after Stop()).
  bool SubmitStore(SnapshotCapture capture);
  // Waits until every store queued so far has finished; false on timeout.
  bool WaitForStores(std::chrono::steady_clock::duration timeout);
  void Stop();

  uint64_t captures_dropped() const;
  uint64_t pending_store_bytes() const;

 private:
  void LookupLoop();
  void StoreLoop();

  std::shared_ptr<PrefixCache> cache_;
  const size_t max_pending_bytes_;

  mutable std::mutex mu_;
  std::condition_variable lookup_cv_, store_cv_, stores_done_cv_;
  std::deque<std::function<void()>> lookups_;
  std::deque<SnapshotCapture> stores_;
  size_t pending_bytes_ = 0;  // bytes of queued captures plus the one being stored
  int stores_in_flight_ = 0;  // 0 or 1
  uint64_t dropped_ = 0;
  bool stop_ = false;
  std::thread lookup_thread_, store_thread_;
};

}  // namespace gf
