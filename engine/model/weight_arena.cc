#include "engine/model/weight_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace gf {

StatusOr<std::shared_ptr<void>> AllocateWeightArena(size_t bytes, const char* what) {
  const size_t size = (std::max<size_t>(bytes, 1) + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  const size_t reserve = size + kHugePageBytes;
  void* base = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    return ResourceExhausted("cannot map " + std::to_string(reserve) + " bytes for " + what);
  }
  // Trim to a 2 MiB-aligned window so transparent huge pages can back all of it.
  const auto start = reinterpret_cast<uintptr_t>(base);
  const uintptr_t aligned = (start + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  const size_t head = aligned - start;
  const size_t tail = reserve - head - size;
  if (head > 0) ::munmap(base, head);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + size), tail);
  void* arena = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  ::madvise(arena, size, MADV_HUGEPAGE);  // advisory: failure (no THP) is harmless
#endif
  return std::shared_ptr<void>(arena, [size](void* p) { ::munmap(p, size); });
}

}  // namespace gf
