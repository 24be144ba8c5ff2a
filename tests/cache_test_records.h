// Record builders shared by the cache store tests: deterministic keys and envelopes whose
// contents are derived from a seed, so any returned bytes can be checked exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "cache_store/key.h"
#include "cache_store/record_format.h"

namespace gf::cache::testing {

// A key whose bytes all derive from `seed` (distinct seeds give distinct keys).
inline Key TestKey(uint32_t seed) {
  Key key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed * 131u + i * 7u + (seed >> 8));
  key[0] = static_cast<uint8_t>(seed);
  key[1] = static_cast<uint8_t>(seed >> 8);
  return key;
}

inline RecordMeta TestMeta(const Key& key) {
  RecordMeta meta;
  meta.kind = RecordKind::kStateSnapshot;
  for (size_t i = 0; i < 32; ++i) {
    meta.model_fingerprint[i] = static_cast<uint8_t>(0xA0 + i);
    meta.salt_hash[i] = static_cast<uint8_t>(0x10 + i);
  }
  meta.key = key;
  return meta;
}

// An encoded record for `key` with `tokens` token ids and `payload_bytes` payload bytes; its size
// is EncodedRecordSize(tokens, payload_bytes).
inline std::vector<uint8_t> TestRecord(const Key& key, size_t tokens, size_t payload_bytes) {
  std::vector<int32_t> ids(tokens);
  for (size_t i = 0; i < tokens; ++i) ids[i] = static_cast<int32_t>(i * 31 + key[0]);
  std::vector<uint8_t> payload(payload_bytes);
  for (size_t i = 0; i < payload_bytes; ++i) payload[i] = static_cast<uint8_t>(i * 13 + key[1] + key[0]);
  return EncodeRecord(TestMeta(key), ids, payload);
}

}  // namespace gf::cache::testing
