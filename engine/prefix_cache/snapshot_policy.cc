// The snapshot policy (where a prompt's snapshots go), option validation and the enum names of
// prefix_cache.h. The policy with a worked example is in docs/cache_format.md.
#include <algorithm>
#include <limits>
#include <string>

#include "engine/prefix_cache/prefix_cache.h"

namespace gf {

const char* CacheTierName(CacheTier tier) {
  switch (tier) {
    case CacheTier::kMemory:
      return "memory";
    case CacheTier::kDisk:
      return "disk";
  }
  return "unknown";
}

const char* CacheMissReasonName(CacheMissReason reason) {
  switch (reason) {
    case CacheMissReason::kNoEntry:
      return "no_entry";
    case CacheMissReason::kTokenMismatch:
      return "token_mismatch";
    case CacheMissReason::kFingerprintMismatch:
      return "fingerprint_mismatch";
    case CacheMissReason::kCorrupt:
      return "corrupt";
    case CacheMissReason::kEvicted:
      return "evicted";
    case CacheMissReason::kDisabled:
      return "disabled";
  }
  return "unknown";
}

Status PrefixCacheOptions::Validate() const {
  // Positions are token counts; 2^31 keeps every sum below in range.
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  const std::pair<const char*, int64_t> fields[] = {{"min_snapshot_tokens", min_snapshot_tokens},
                                                    {"snapshot_interval", snapshot_interval},
                                                    {"ladder_min", ladder_min},
                                                    {"ladder_align", ladder_align}};
  for (const auto& [name, value] : fields) {
    if (value < 1 || value > kMax) {
      return InvalidArgument(std::string("prefix cache option ") + name + " must be in [1, " +
                             std::to_string(kMax) + "], got " + std::to_string(value));
    }
  }
  return Status::Ok();
}

std::vector<int64_t> PrefixCache::SnapshotPositions(int64_t prompt_tokens,
                                                    std::span<const int64_t> hints) const {
  const PrefixCacheOptions& o = options();
  const int64_t lo = o.min_snapshot_tokens;
  const int64_t hi = prompt_tokens - 1;  // the last prompt token is always computed again
  std::vector<int64_t> positions;
  // Nothing below the minimum; nothing past what a snapshot can record (token counts < 2^32).
  if (hi < lo || hi > std::numeric_limits<uint32_t>::max()) return positions;
  positions.push_back(hi);
  for (int64_t m = (lo + o.snapshot_interval - 1) / o.snapshot_interval * o.snapshot_interval;
       m <= hi; m += o.snapshot_interval) {
    positions.push_back(m);
  }
  // Tail ladder: distances doubling from ladder_min while below snapshot_interval.
  for (int64_t d = o.ladder_min; d < o.snapshot_interval && hi - d >= lo; d *= 2) {
    const int64_t at = (hi - d) / o.ladder_align * o.ladder_align;
    if (at >= lo) positions.push_back(at);
  }
  for (int64_t hint : hints) {
    if (hint >= lo && hint <= hi) positions.push_back(hint);
  }
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  return positions;
}

}  // namespace gf
