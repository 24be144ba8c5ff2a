// The cache record envelope (version 1): what every cache tier stores, byte for byte, around an
// opaque payload. Layout, field by field with offsets, in docs/cache_format.md.
//
// A record carries everything needed to refuse a wrong hit: the model fingerprint, the SHA-256 of
// the tenant salt, the prefix key and the full token ids of the prefix, plus CRC-32C checksums of
// the header, the token ids and the payload. Checksums detect accidental corruption only; tamper
// resistance (a MAC) is the business of a future remote tier.
//
// Errors: decoding never reads outside the given bytes (all length arithmetic is overflow-safe)
// and never trusts a length field before checking it against the buffer. Any corruption (short
// buffer, bad magic, unknown version or kind, non-zero reserved bytes, lengths that do not fill
// the buffer exactly, a CRC mismatch) is DataLoss. A well-formed record made for another model,
// tenant or key is FailedPrecondition, so callers can count "fingerprint mismatch" apart from
// "corrupt". Token equality with a request is the caller's check (the prefix cache's).
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "cache_store/key.h"
#include "common/status.h"

namespace gf::cache {

using Hash256 = std::array<uint8_t, 32>;

inline constexpr uint32_t kRecordFormatVersion = 1;
inline constexpr size_t kRecordHeaderSize = 144;  // fixed header; token ids start here

// What the payload is. The store treats the payload as opaque bytes; the kind lets a reader
// reject a record of the wrong sort before parsing it.
enum class RecordKind : uint8_t {
  kCompressedRows = 1,  // token ids + compressed cache rows of a prefix segment
  kStateSnapshot = 2,   // a SequenceState snapshot (docs/state_format.md) at an exact position
};

struct RecordMeta {
  RecordKind kind = RecordKind::kStateSnapshot;
  Hash256 model_fingerprint{};  // weights, config, tokenizer, dtype, format (caller-defined)
  Hash256 salt_hash{};          // SHA-256 of the tenant salt
  Key key{};                    // the prefix key the record is stored under
};

// The fixed header, parsed and checked (returned by VerifyRecordIntegrity).
struct RecordHeader {
  RecordMeta meta;
  uint64_t token_count = 0;
  uint64_t payload_length = 0;
};

// A decoded record (owns copies of the token ids and payload).
struct Record {
  RecordMeta meta;
  std::vector<int32_t> tokens;
  std::vector<uint8_t> payload;
};

// What a reader expects; DecodeRecord compares all three.
struct RecordExpectation {
  Hash256 model_fingerprint{};
  Hash256 salt_hash{};
  Key key{};
};

// Exact encoded size of a record with `token_count` tokens and `payload_length` payload bytes.
size_t EncodedRecordSize(size_t token_count, size_t payload_length);

// Builds the record bytes.
std::vector<uint8_t> EncodeRecord(const RecordMeta& meta, std::span<const int32_t> tokens,
                                  std::span<const uint8_t> payload);

// Checks everything that needs no outside knowledge: magic, version, kind, reserved bytes, header
// CRC, exact total length, token and payload CRCs. DataLoss on any failure.
StatusOr<RecordHeader> VerifyRecordIntegrity(std::span<const uint8_t> bytes);

// VerifyRecordIntegrity, then the model fingerprint, salt hash and key against `expected`
// (FailedPrecondition naming the field on a mismatch), then copies tokens and payload out.
StatusOr<Record> DecodeRecord(std::span<const uint8_t> bytes, const RecordExpectation& expected);

}  // namespace gf::cache
