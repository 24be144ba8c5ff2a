#include "cache_store/memory_store.h"

#include <algorithm>
#include <string>
#include <utility>

namespace gf::cache {

namespace {

bool PinnedAt(const std::optional<PinClock::time_point>& pin, PinClock::time_point now) {
  return pin.has_value() && *pin > now;
}

std::optional<PinClock::time_point> LaterPin(std::optional<PinClock::time_point> a,
                                             std::optional<PinClock::time_point> b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

}  // namespace

MemoryStore::MemoryStore(const MemoryStoreOptions& options) : byte_budget_(options.byte_budget) {
  stats_.tier = "memory";
}

void MemoryStore::RemoveLocked(std::unordered_map<Key, Entry, KeyHash>::iterator it) {
  stats_.bytes_stored -= it->second.bytes->size();
  stats_.entries -= 1;
  lru_.erase(it->second.lru_position);
  entries_.erase(it);
}

Status MemoryStore::Put(const Key& key, std::vector<uint8_t> record_bytes,
                        const PutOptions& options) {
  const size_t size = record_bytes.size();
  auto shared = std::make_shared<const std::vector<uint8_t>>(std::move(record_bytes));
  const auto now = PinClock::now();
  std::lock_guard lock(mu_);
  if (size > byte_budget_) {
    ++stats_.write_failures;
    return ResourceExhausted("memory cache: record of " + std::to_string(size) +
                             " bytes exceeds the budget of " + std::to_string(byte_budget_));
  }
  auto existing = entries_.find(key);
  const size_t replaced = existing == entries_.end() ? 0 : existing->second.bytes->size();
  const size_t after = stats_.bytes_stored - replaced + size;
  // Choose victims from the least recent end before evicting anything, so a Put that cannot fit
  // beside the pinned entries leaves the store unchanged.
  std::vector<Key> victims;
  if (after > byte_budget_) {
    size_t to_free = after - byte_budget_;
    for (auto it = lru_.rbegin(); it != lru_.rend() && to_free > 0; ++it) {
      if (*it == key) continue;
      const Entry& entry = entries_.at(*it);
      if (PinnedAt(entry.pinned_until, now)) continue;
      victims.push_back(*it);
      to_free -= std::min(to_free, entry.bytes->size());
    }
    if (to_free > 0) {
      ++stats_.write_failures;
      return ResourceExhausted("memory cache: no room for " + std::to_string(size) +
                               " bytes beside the pinned entries");
    }
  }
  for (const Key& victim : victims) {
    RemoveLocked(entries_.find(victim));
    ++stats_.evictions;
  }
  std::optional<PinClock::time_point> pin = options.pinned_until;
  existing = entries_.find(key);  // eviction never removes `key`, but the map may have rehashed
  if (existing != entries_.end()) {
    pin = LaterPin(pin, existing->second.pinned_until);
    RemoveLocked(existing);
  }
  lru_.push_front(key);
  entries_.emplace(key, Entry{std::move(shared), lru_.begin(), pin});
  stats_.bytes_stored += size;
  stats_.entries += 1;
  stats_.bytes_written_total += size;
  return Status::Ok();
}

StatusOr<std::vector<uint8_t>> MemoryStore::Get(const Key& key) {
  std::shared_ptr<const std::vector<uint8_t>> bytes;
  {
    std::lock_guard lock(mu_);
    ++stats_.lookups;
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      ++stats_.misses_not_found;
      return NotFound("memory cache: no entry");
    }
    lru_.splice(lru_.begin(), lru_, it->second.lru_position);
    bytes = it->second.bytes;
    ++stats_.hits;
    stats_.bytes_read_total += bytes->size();
  }
  return std::vector<uint8_t>(*bytes);
}

bool MemoryStore::Contains(const Key& key) {
  std::lock_guard lock(mu_);
  return entries_.count(key) != 0;
}

Status MemoryStore::Erase(const Key& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return NotFound("memory cache: no entry");
  RemoveLocked(it);
  return Status::Ok();
}

Status MemoryStore::Pin(const Key& key, std::optional<PinClock::time_point> pinned_until) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return NotFound("memory cache: no entry");
  it->second.pinned_until = pinned_until;
  return Status::Ok();
}

CacheTierStats MemoryStore::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace gf::cache
