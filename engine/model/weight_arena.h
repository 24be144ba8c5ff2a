// Anonymous memory for model weights: one mapping, trimmed to 2 MiB alignment so transparent
// huge pages can back all of it, with MADV_HUGEPAGE advised (computing from a file-backed 4 KiB
// mapping runs about half as fast). The returned owner unmaps it; thread-safe free function.
#pragma once

#include <cstddef>
#include <memory>

#include "common/status.h"

namespace gf {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// At least `bytes` of zeroed, writable, 2 MiB-aligned memory; ResourceExhausted naming `what`
// when the mapping fails.
StatusOr<std::shared_ptr<void>> AllocateWeightArena(size_t bytes, const char* what);

}  // namespace gf
