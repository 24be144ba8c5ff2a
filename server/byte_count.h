// Byte counts with unit suffixes, as the *-bytes options accept them: an integer, optionally
// followed (directly or after one space) by KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB
// (powers of 1000): "4096", "+7", "64MiB", "2 GB". Case-sensitive; no fractions.
//
// Pure function, thread-safe. nullopt for anything else, including a product that would overflow
// int64 (never a wrapped value). Range checks are the caller's.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace gf::server {

std::optional<std::int64_t> ParseByteCount(std::string_view text);

}  // namespace gf::server
