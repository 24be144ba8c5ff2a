// SHA-256 (FIPS 180-4), written from the specification for the prefix keys, tenant-salt hashes
// and model fingerprints of the cache: the engine builds with the standard library alone, so no
// OpenSSL here. Output is bit-identical to any conforming implementation (tested on the NIST
// vectors). Blocks are compressed with the x86 SHA extensions where the CPU has them (several
// times faster: model fingerprints hash every weight byte), else by the portable code. Not
// constant-time with respect to message length; do not use it as a MAC by itself.
//
// Thread-safety: a Sha256 object is a plain value, one user at a time; the free functions are
// pure. Units: sizes in bytes; messages up to 2^61 - 1 bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace gf {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hasher: Update any number of times, then Final. Final resets the object, so it can
// hash the next message.
class Sha256 {
 public:
  Sha256() { Reset(); }

  void Reset();
  void Update(const void* data, size_t size);
  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }
  void Update(std::span<const uint8_t> bytes) { Update(bytes.data(), bytes.size()); }
  Sha256Digest Final();

 private:
  // `count` consecutive 64-byte blocks (SHA-NI when the CPU has it, else the portable code).
  void Compress(const uint8_t* blocks, size_t count);

  std::array<uint32_t, 8> state_{};
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;       // bytes in buffer_
  uint64_t total_bytes_ = 0;  // message length so far
};

// One-shot hashes.
Sha256Digest Sha256Hash(const void* data, size_t size);
inline Sha256Digest Sha256Hash(std::string_view bytes) {
  return Sha256Hash(bytes.data(), bytes.size());
}

// Tests only: true makes every hasher use the portable block function even where the CPU has
// the SHA extensions (so both paths are checked against the NIST vectors).
void Sha256ForcePortableForTesting(bool force);

// Lowercase hexadecimal of any byte string (64 characters for a digest).
std::string ToLowerHex(std::span<const uint8_t> bytes);

}  // namespace gf
