// Prefix keys of the prefix cache: SHA-256 chains over length-prefixed, type-tagged segments of
// token ids (docs/cache_format.md, "Prefix keys"). Equal keys need an equal model fingerprint, an
// equal namespace salt hash and equal token ids at equal positions; every other input changes
// them. All integers are little-endian; token ids are int32.
//
//   seed         = SHA256("goldfinch-prefix-v1" | u32 32 | model fingerprint | u32 32 | salt hash)
//   chain(0)     = seed
//   chain(b + 1) = SHA256('B' | chain(b) | u32 16 | ids of block b)   (blocks of kKeyBlockTokens)
//   PrefixKey(p) = SHA256('P' | chain(p / 16) | u32 r | ids p - r .. p - 1),  r = p % 16
//   SnapshotKey(p)       = SHA256('S' | PrefixKey(p))
//   RowsKey(end, begin)  = SHA256('R' | PrefixKey(end) | u64 begin)
//
// Cost: the chain is one 2-block hash per 16 tokens, computed once by PrefixKeyChain; then any
// position's prefix key is a 1- or 2-block hash and a snapshot key one more block (about 3 SHA-256
// compressions per probed position; see the measurement in prefix_keys_test.cc).
// Thread-safety: pure functions; a PrefixKeyChain is immutable after construction, so any number
// of threads may query it. Positions outside [0, size()] are a caller bug: the key functions
// clamp nothing and assert in debug builds only, so callers check first (PrefixCache does).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "cache_store/key.h"
#include "common/sha256.h"

namespace gf {

inline constexpr int64_t kKeyBlockTokens = 16;
inline constexpr std::string_view kPrefixKeyTag = "goldfinch-prefix-v1";

// The chain seed of a (model, namespace) pair.
Sha256Digest PrefixKeySeed(const Sha256Digest& model_fingerprint, const Sha256Digest& salt_hash);

class PrefixKeyChain {
 public:
  // Copies `tokens` and hashes every complete 16-token block of them.
  PrefixKeyChain(const Sha256Digest& seed, std::span<const int32_t> tokens);

  // Number of tokens covered: keys exist for positions 0..size().
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }

  // chain(b) for 0 <= b <= size() / 16.
  const Sha256Digest& BlockChain(int64_t block) const;
  // The key of the exact prefix tokens[0, position).
  Sha256Digest PrefixKey(int64_t position) const;
  // Key of the snapshot record at `position`.
  cache::Key SnapshotKey(int64_t position) const;
  // Key of the row segment [begin, end) of the prefix ending at `end` (0 <= begin < end).
  cache::Key RowsKey(int64_t end, int64_t begin) const;

 private:
  std::vector<int32_t> tokens_;
  std::vector<Sha256Digest> chain_;  // chain_[b] = chain(b), b = 0..size()/16
};

}  // namespace gf
