// CRC-32C (Castagnoli) checksums for serialised states and cache records. Detects accidental
// corruption (bit flips, truncation); not a defence against deliberate tampering. Uses the SSE4.2
// crc32 instruction when the CPU has it, else a table. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gf {

// Extends `crc` (the value returned for the preceding bytes; 0 to start) over `size` bytes.
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace gf
