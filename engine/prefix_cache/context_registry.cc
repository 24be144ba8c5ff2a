#include "engine/prefix_cache/context_registry.h"

#include <algorithm>
#include <random>

#include "common/sha256.h"

namespace gf {
namespace {

cache::PinClock::time_point PinTime(int64_t unix_seconds) {
  return cache::PinClock::time_point(
      std::chrono::duration_cast<cache::PinClock::duration>(std::chrono::seconds(unix_seconds)));
}

Status ContextNotFound(std::string_view id) {
  return NotFound("context '" + std::string(id) + "' not found");
}

Status CheckTtl(int64_t ttl_seconds, int64_t min) {
  if (ttl_seconds >= min && ttl_seconds <= kMaxContextTtlSeconds) return Status::Ok();
  return InvalidArgument("ttl_seconds must be in [" + std::to_string(min) + ", " +
                         std::to_string(kMaxContextTtlSeconds) + "], got " +
                         std::to_string(ttl_seconds));
}

}  // namespace

std::string ContextSnapshotGroup(const CacheNamespace& ns, std::span<const int32_t> tokens) {
  Sha256 hash;
  hash.Update(ns.salt_hash);
  for (int32_t token : tokens) {
    const auto v = static_cast<uint32_t>(token);
    const uint8_t bytes[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8),
                              static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 24)};
    hash.Update(bytes, sizeof(bytes));
  }
  const Sha256Digest digest = hash.Final();
  return ToLowerHex(digest);
}

ContextRegistry::ContextRegistry(PrefixCache& cache, ContextRegistryOptions options)
    : cache_(cache), options_(std::move(options)) {}

ContextRegistry::~ContextRegistry() = default;

StatusOr<std::unique_ptr<ContextRegistry>> ContextRegistry::Open(PrefixCache& cache,
                                                                 ContextRegistryOptions options,
                                                                 ContextLoadReport* report) {
  if (options.max_per_namespace == 0) {
    return InvalidArgument("max_per_namespace must be at least 1");
  }
  if (!options.clock) options.clock = [] { return cache::PinClock::now(); };
  ContextLoadReport local;
  ContextLoadReport& out = report != nullptr ? *report : local;
  out = ContextLoadReport{};
  std::unique_ptr<ContextRegistry> registry(new ContextRegistry(cache, std::move(options)));
  if (registry->options_.dir.empty()) return registry;

  GF_ASSIGN_OR_RETURN(ContextFileScan scan, ScanContextFiles(registry->options_.dir));
  out.corrupt = scan.corrupt;
  std::lock_guard<std::mutex> lock(registry->mu_);
  const int64_t now = registry->NowSeconds();
  for (ContextRecord& record : scan.records) {
    if (record.expires_at <= now) {
      (void)RemoveContextFile(registry->options_.dir, record.id);
      ++out.expired;
      continue;
    }
    std::string group = ContextSnapshotGroup(record.ns, *record.tokens);
    registry->InsertLocked(std::move(record), std::move(group));
  }
  // Re-pin each snapshot once (its contexts share it); a snapshot that is gone takes its
  // contexts with it.
  std::vector<std::string> groups;
  for (const auto& [group, ids] : registry->groups_) groups.push_back(group);
  for (const std::string& group : groups) {
    const ContextRecord first =
        registry->contexts_.find(*registry->groups_[group].begin())->second.record;
    if (registry->RepinGroupLocked(group, first.ns, *first.tokens, 0).ok()) continue;
    const std::set<std::string> ids = registry->groups_[group];
    for (const std::string& id : ids) registry->ForgetLocked(id);
    out.missing_snapshot += ids.size();
  }
  out.loaded = registry->contexts_.size();
  return registry;
}

int64_t ContextRegistry::NowSeconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(options_.clock().time_since_epoch())
      .count();
}

void ContextRegistry::InsertLocked(ContextRecord record, std::string group) {
  const std::string id = record.id;
  by_expiry_.emplace(record.expires_at, id);
  groups_[group].insert(id);
  ++per_namespace_[record.ns.salt_hash];
  contexts_.emplace(id, Entry{std::move(record), std::move(group)});
}

void ContextRegistry::ForgetLocked(const std::string& id) {
  const auto it = contexts_.find(id);
  if (it == contexts_.end()) return;
  const Entry& entry = it->second;
  by_expiry_.erase({entry.record.expires_at, id});
  if (auto group = groups_.find(entry.group); group != groups_.end()) {
    group->second.erase(id);
    if (group->second.empty()) groups_.erase(group);
  }
  if (auto count = per_namespace_.find(entry.record.ns.salt_hash);
      count != per_namespace_.end() && --count->second == 0) {
    per_namespace_.erase(count);
  }
  if (!options_.dir.empty()) (void)RemoveContextFile(options_.dir, id);
  contexts_.erase(it);
}

Status ContextRegistry::RepinGroupLocked(const std::string& group, const CacheNamespace& ns,
                                         std::span<const int32_t> tokens, int64_t extra_expiry) {
  int64_t until = extra_expiry;
  if (auto it = groups_.find(group); it != groups_.end()) {
    for (const std::string& id : it->second) {
      until = std::max(until, contexts_.find(id)->second.record.expires_at);
    }
  }
  if (until == 0) return cache_.PinSnapshot(ns, tokens, std::nullopt);
  return cache_.PinSnapshot(ns, tokens, PinTime(until));
}

void ContextRegistry::SweepExpiredLocked(int64_t now) {
  std::vector<ContextRecord> expired;
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    const std::string id = by_expiry_.begin()->second;
    const auto it = contexts_.find(id);
    if (it == contexts_.end()) {  // cannot happen: the indexes change together
      by_expiry_.erase(by_expiry_.begin());
      continue;
    }
    expired.push_back(it->second.record);
    ForgetLocked(id);
    ++stats_.expired;
  }
  for (const ContextRecord& record : expired) {
    // Unpins the snapshot, or keeps it pinned for the group's remaining contexts. A snapshot
    // that is already gone needs nothing.
    (void)RepinGroupLocked(ContextSnapshotGroup(record.ns, *record.tokens), record.ns,
                           *record.tokens, 0);
  }
}

std::string ContextRegistry::NewIdLocked() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  while (true) {
    std::string id = "ctx_";
    for (int word = 0; word < 3; ++word) {
      const uint32_t bits = device();
      for (int i = 7; i >= 0; --i) id.push_back(kHex[(bits >> (4 * i)) & 0xf]);
    }
    if (contexts_.find(id) == contexts_.end()) return id;
  }
}

const ContextRecord* ContextRegistry::FindLocked(const CacheNamespace& ns,
                                                 std::string_view id) const {
  const auto it = contexts_.find(id);
  if (it == contexts_.end() || it->second.record.ns.salt_hash != ns.salt_hash) return nullptr;
  return &it->second.record;
}

StatusOr<ContextRecord> ContextRegistry::Create(const CacheNamespace& ns,
                                                std::span<const int32_t> tokens,
                                                int64_t ttl_seconds, std::string name) {
  if (tokens.empty()) return InvalidArgument("a context needs at least one token");
  GF_RETURN_IF_ERROR(CheckTtl(ttl_seconds, 1));
  if (name.size() > options_.max_name_bytes) {
    return InvalidArgument("name must be at most " + std::to_string(options_.max_name_bytes) +
                           " bytes, got " + std::to_string(name.size()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowSeconds();
  SweepExpiredLocked(now);
  if (auto count = per_namespace_.find(ns.salt_hash);
      count != per_namespace_.end() && count->second >= options_.max_per_namespace) {
    return ResourceExhausted(std::string(kContextLimitMessage) + ": at most " +
                             std::to_string(options_.max_per_namespace) +
                             " contexts may exist at once; delete some first");
  }
  ContextRecord record;
  record.ns = ns;
  record.tokens = std::make_shared<const std::vector<int32_t>>(tokens.begin(), tokens.end());
  record.created = now;
  record.expires_at = now + ttl_seconds;
  record.name = std::move(name);
  std::string group = ContextSnapshotGroup(ns, tokens);
  if (Status pinned = RepinGroupLocked(group, ns, tokens, record.expires_at); !pinned.ok()) {
    if (pinned.code() == StatusCode::kNotFound) {
      return NotFound("no prefix-cache snapshot of these " + std::to_string(tokens.size()) +
                      " tokens is stored");
    }
    return pinned;
  }
  record.id = NewIdLocked();
  if (!options_.dir.empty()) {
    if (Status written = WriteContextFile(options_.dir, record); !written.ok()) {
      (void)RepinGroupLocked(group, ns, tokens, 0);  // back to the pins of the others (or none)
      return written;
    }
  }
  InsertLocked(record, std::move(group));
  ++stats_.created;
  return record;
}

StatusOr<ContextRecord> ContextRegistry::Get(const CacheNamespace& ns, std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  SweepExpiredLocked(NowSeconds());
  const ContextRecord* record = FindLocked(ns, id);
  if (record == nullptr) return ContextNotFound(id);
  return *record;
}

std::vector<ContextRecord> ContextRegistry::List(const CacheNamespace& ns) {
  std::lock_guard<std::mutex> lock(mu_);
  SweepExpiredLocked(NowSeconds());
  std::vector<ContextRecord> out;
  for (const auto& [id, entry] : contexts_) {
    if (entry.record.ns.salt_hash == ns.salt_hash) out.push_back(entry.record);
  }
  std::sort(out.begin(), out.end(), [](const ContextRecord& a, const ContextRecord& b) {
    return a.created != b.created ? a.created < b.created : a.id < b.id;
  });
  return out;
}

StatusOr<ContextRecord> ContextRegistry::Pin(const CacheNamespace& ns, std::string_view id,
                                             int64_t ttl_seconds) {
  GF_RETURN_IF_ERROR(CheckTtl(ttl_seconds, 0));
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowSeconds();
  SweepExpiredLocked(now);
  const ContextRecord* found = FindLocked(ns, id);
  if (found == nullptr) return ContextNotFound(id);
  ContextRecord record = *found;
  const std::string group = contexts_.find(id)->second.group;
  if (ttl_seconds == 0) {
    ForgetLocked(record.id);
    ++stats_.expired;
    (void)RepinGroupLocked(group, ns, *record.tokens, 0);
    record.expires_at = now;
    return record;
  }
  ContextRecord updated = record;
  updated.expires_at = now + ttl_seconds;
  if (!options_.dir.empty()) GF_RETURN_IF_ERROR(WriteContextFile(options_.dir, updated));
  by_expiry_.erase({record.expires_at, record.id});
  by_expiry_.emplace(updated.expires_at, record.id);
  contexts_.find(id)->second.record.expires_at = updated.expires_at;
  if (Status pinned = RepinGroupLocked(group, ns, *record.tokens, 0); !pinned.ok()) {
    // The shared snapshot is gone: every context of the group has lost its state.
    const std::set<std::string> ids = groups_[group];
    for (const std::string& member : ids) ForgetLocked(member);
    stats_.lost += ids.size();
    return NotFound("context '" + record.id +
                    "' lost its cached state (the snapshot is no longer stored); create it again");
  }
  return updated;
}

Status ContextRegistry::Delete(const CacheNamespace& ns, std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  SweepExpiredLocked(NowSeconds());
  const ContextRecord* found = FindLocked(ns, id);
  if (found == nullptr) return ContextNotFound(id);
  const ContextRecord record = *found;
  const std::string group = contexts_.find(id)->second.group;
  ForgetLocked(record.id);
  ++stats_.deleted;
  if (groups_.count(group) != 0) {
    (void)RepinGroupLocked(group, ns, *record.tokens, 0);  // other contexts keep the snapshot
    return Status::Ok();
  }
  (void)cache_.PinSnapshot(ns, *record.tokens, std::nullopt);  // its row segments too
  (void)cache_.EraseSnapshot(ns, *record.tokens);
  return Status::Ok();
}

ContextStats ContextRegistry::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  SweepExpiredLocked(NowSeconds());
  ContextStats stats = stats_;
  stats.live = contexts_.size();
  return stats;
}

size_t ContextRegistry::size() {
  std::lock_guard<std::mutex> lock(mu_);
  SweepExpiredLocked(NowSeconds());
  return contexts_.size();
}

size_t ContextRegistry::Count(const CacheNamespace& ns) {
  std::lock_guard<std::mutex> lock(mu_);
  SweepExpiredLocked(NowSeconds());
  const auto it = per_namespace_.find(ns.salt_hash);
  return it == per_namespace_.end() ? 0 : it->second;
}

}  // namespace gf
