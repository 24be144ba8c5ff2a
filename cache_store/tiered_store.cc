#include "cache_store/tiered_store.h"

#include <utility>

namespace gf::cache {

TieredStore::TieredStore(std::unique_ptr<CacheStore> front, std::unique_ptr<CacheStore> back)
    : front_(std::move(front)), back_(std::move(back)) {}

Status TieredStore::Put(const Key& key, std::vector<uint8_t> record_bytes,
                        const PutOptions& options) {
  const Status front_status = front_->Put(key, record_bytes, options);
  const Status back_status = back_->Put(key, std::move(record_bytes), options);
  if (back_status.ok() || front_status.ok()) return Status::Ok();
  return back_status;
}

StatusOr<std::vector<uint8_t>> TieredStore::Get(const Key& key) { return Get(key, nullptr); }

StatusOr<std::vector<uint8_t>> TieredStore::Get(const Key& key, ServedBy* served_by) {
  ++lookups_;
  auto front_hit = front_->Get(key);
  if (front_hit.ok()) {
    ++hits_;
    bytes_read_ += front_hit->size();
    if (served_by != nullptr) *served_by = ServedBy::kFront;
    return front_hit;
  }
  auto back_hit = back_->Get(key);
  if (!back_hit.ok()) {
    ++misses_;
    return back_hit.status();
  }
  ++hits_;
  bytes_read_ += back_hit->size();
  if (served_by != nullptr) *served_by = ServedBy::kBack;
  (void)front_->Put(key, *back_hit);  // promotion; a record too large for the front is skipped
  return back_hit;
}

bool TieredStore::Contains(const Key& key) { return front_->Contains(key) || back_->Contains(key); }

Status TieredStore::Erase(const Key& key) {
  const Status front_status = front_->Erase(key);
  const Status back_status = back_->Erase(key);
  if (front_status.ok() || back_status.ok()) return Status::Ok();
  return back_status;
}

Status TieredStore::Pin(const Key& key, std::optional<PinClock::time_point> pinned_until) {
  const Status front_status = front_->Pin(key, pinned_until);
  const Status back_status = back_->Pin(key, pinned_until);
  if (front_status.ok() || back_status.ok()) return Status::Ok();
  return back_status;
}

CacheTierStats TieredStore::Stats() const {
  const CacheTierStats front = front_->Stats();
  const CacheTierStats back = back_->Stats();
  CacheTierStats total;
  total.tier = "tiered";
  total.lookups = lookups_.load();
  total.hits = hits_.load();
  total.misses_not_found = misses_.load();
  total.corrupt_deleted = front.corrupt_deleted + back.corrupt_deleted;
  total.evictions = front.evictions + back.evictions;
  total.bytes_stored = back.bytes_stored;
  total.bytes_written_total = back.bytes_written_total;
  total.bytes_read_total = bytes_read_.load();
  total.write_failures = front.write_failures + back.write_failures;
  total.entries = back.entries;
  return total;
}

std::vector<CacheTierStats> TieredStore::TierStats() const {
  return {front_->Stats(), back_->Stats()};
}

}  // namespace gf::cache
