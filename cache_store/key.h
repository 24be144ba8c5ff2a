// Key of a cache entry: 32 bytes (a SHA-256 prefix key chosen by the caller; the store gives the
// bytes no meaning beyond identity). KeyHash spreads keys in hash maps; KeyToHex gives the
// 64-character lowercase name the disk tier uses for files. Pure functions, thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/sha256.h"

namespace gf::cache {

using Key = std::array<uint8_t, 32>;

struct KeyHash {
  size_t operator()(const Key& key) const {
    uint64_t h;
    std::memcpy(&h, key.data(), sizeof(h));  // keys are hash outputs: any 8 bytes are uniform
    return static_cast<size_t>(h);
  }
};

inline std::string KeyToHex(const Key& key) { return ToLowerHex(key); }

}  // namespace gf::cache
