#include "cache_store/record_format.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "common/checksum.h"

namespace gf::cache {

namespace {

// Offsets of the fixed header (docs/cache_format.md).
constexpr size_t kMagicOffset = 0;
constexpr size_t kVersionOffset = 8;
constexpr size_t kKindOffset = 12;
constexpr size_t kReserved1Offset = 13;  // 3 bytes
constexpr size_t kFingerprintOffset = 16;
constexpr size_t kSaltHashOffset = 48;
constexpr size_t kKeyOffset = 80;
constexpr size_t kTokenCountOffset = 112;
constexpr size_t kPayloadLengthOffset = 120;
constexpr size_t kTokensCrcOffset = 128;
constexpr size_t kPayloadCrcOffset = 132;
constexpr size_t kReserved2Offset = 136;  // 4 bytes
constexpr size_t kHeaderCrcOffset = 140;
static_assert(kHeaderCrcOffset + 4 == kRecordHeaderSize);

constexpr char kMagic[8] = {'G', 'F', 'C', 'A', 'C', 'H', 'E', '\0'};

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

bool KnownKind(uint8_t kind) {
  return kind == static_cast<uint8_t>(RecordKind::kCompressedRows) ||
         kind == static_cast<uint8_t>(RecordKind::kStateSnapshot);
}

}  // namespace

size_t EncodedRecordSize(size_t token_count, size_t payload_length) {
  return kRecordHeaderSize + token_count * 4 + payload_length;
}

std::vector<uint8_t> EncodeRecord(const RecordMeta& meta, std::span<const int32_t> tokens,
                                  std::span<const uint8_t> payload) {
  std::vector<uint8_t> out(EncodedRecordSize(tokens.size(), payload.size()), 0);
  uint8_t* p = out.data();
  if (p == nullptr) return out;  // never (the header is non-empty); tells GCC's -Wnull-dereference
  std::memcpy(p + kMagicOffset, kMagic, sizeof(kMagic));
  PutU32(p + kVersionOffset, kRecordFormatVersion);
  p[kKindOffset] = static_cast<uint8_t>(meta.kind);
  std::memcpy(p + kFingerprintOffset, meta.model_fingerprint.data(), 32);
  std::memcpy(p + kSaltHashOffset, meta.salt_hash.data(), 32);
  std::memcpy(p + kKeyOffset, meta.key.data(), 32);
  PutU64(p + kTokenCountOffset, tokens.size());
  PutU64(p + kPayloadLengthOffset, payload.size());
  uint8_t* token_bytes = p + kRecordHeaderSize;
  for (size_t i = 0; i < tokens.size(); ++i) {
    PutU32(token_bytes + 4 * i, static_cast<uint32_t>(tokens[i]));
  }
  uint8_t* payload_bytes = token_bytes + 4 * tokens.size();
  if (!payload.empty()) std::memcpy(payload_bytes, payload.data(), payload.size());
  PutU32(p + kTokensCrcOffset, Crc32c(token_bytes, 4 * tokens.size()));
  PutU32(p + kPayloadCrcOffset, Crc32c(payload_bytes, payload.size()));
  PutU32(p + kHeaderCrcOffset, Crc32c(p, kHeaderCrcOffset));
  return out;
}

StatusOr<RecordHeader> VerifyRecordIntegrity(std::span<const uint8_t> bytes) {
  if (bytes.size() < kRecordHeaderSize) {
    return DataLoss("cache record: " + std::to_string(bytes.size()) +
                    " bytes, shorter than the header");
  }
  const uint8_t* p = bytes.data();
  if (std::memcmp(p + kMagicOffset, kMagic, sizeof(kMagic)) != 0) {
    return DataLoss("cache record: bad magic");
  }
  if (Crc32c(p, kHeaderCrcOffset) != GetU32(p + kHeaderCrcOffset)) {
    return DataLoss("cache record: header checksum mismatch");
  }
  if (const uint32_t version = GetU32(p + kVersionOffset); version != kRecordFormatVersion) {
    return DataLoss("cache record: unsupported format version " + std::to_string(version));
  }
  if (!KnownKind(p[kKindOffset])) {
    return DataLoss("cache record: unknown kind " + std::to_string(p[kKindOffset]));
  }
  if (p[kReserved1Offset] != 0 || p[kReserved1Offset + 1] != 0 || p[kReserved1Offset + 2] != 0 ||
      GetU32(p + kReserved2Offset) != 0) {
    return DataLoss("cache record: reserved bytes are not zero");
  }
  RecordHeader header;
  header.meta.kind = static_cast<RecordKind>(p[kKindOffset]);
  std::memcpy(header.meta.model_fingerprint.data(), p + kFingerprintOffset, 32);
  std::memcpy(header.meta.salt_hash.data(), p + kSaltHashOffset, 32);
  std::memcpy(header.meta.key.data(), p + kKeyOffset, 32);
  header.token_count = GetU64(p + kTokenCountOffset);
  header.payload_length = GetU64(p + kPayloadLengthOffset);

  // Overflow-safe: compare each length with what is left instead of adding them up.
  const uint64_t body = bytes.size() - kRecordHeaderSize;
  if (header.token_count > body / 4) {
    return DataLoss("cache record: token count exceeds the record");
  }
  const uint64_t token_bytes = header.token_count * 4;
  if (header.payload_length != body - token_bytes) {
    return DataLoss("cache record: payload length " + std::to_string(header.payload_length) +
                    " does not match the record size");
  }
  const uint8_t* tokens = p + kRecordHeaderSize;
  if (Crc32c(tokens, static_cast<size_t>(token_bytes)) != GetU32(p + kTokensCrcOffset)) {
    return DataLoss("cache record: token checksum mismatch");
  }
  if (Crc32c(tokens + token_bytes, static_cast<size_t>(header.payload_length)) !=
      GetU32(p + kPayloadCrcOffset)) {
    return DataLoss("cache record: payload checksum mismatch");
  }
  return header;
}

StatusOr<Record> DecodeRecord(std::span<const uint8_t> bytes, const RecordExpectation& expected) {
  GF_ASSIGN_OR_RETURN(RecordHeader header, VerifyRecordIntegrity(bytes));
  if (header.meta.model_fingerprint != expected.model_fingerprint) {
    return FailedPrecondition("cache record: model fingerprint mismatch");
  }
  if (header.meta.salt_hash != expected.salt_hash) {
    return FailedPrecondition("cache record: tenant salt mismatch");
  }
  if (header.meta.key != expected.key) {
    return FailedPrecondition("cache record: prefix key mismatch");
  }
  Record record;
  record.meta = header.meta;
  const size_t n = static_cast<size_t>(header.token_count);
  record.tokens.resize(n);
  const uint8_t* tokens = bytes.data() + kRecordHeaderSize;
  for (size_t i = 0; i < n; ++i) record.tokens[i] = static_cast<int32_t>(GetU32(tokens + 4 * i));
  const uint8_t* payload = tokens + 4 * n;
  record.payload.assign(payload, payload + header.payload_length);
  return record;
}

}  // namespace gf::cache
