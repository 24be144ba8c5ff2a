// The cache record envelope: exact layout, round trips, and every corruption class detected
// (DataLoss) apart from well-formed records of another model, tenant or key (FailedPrecondition).
#include "cache_store/record_format.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "tests/cache_test_records.h"

namespace gf::cache {
namespace {

using testing::TestKey;
using testing::TestMeta;

uint32_t U32At(const std::vector<uint8_t>& b, size_t off) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{b[off + i]} << (8 * i);
  return v;
}
uint64_t U64At(const std::vector<uint8_t>& b, size_t off) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{b[off + i]} << (8 * i);
  return v;
}
void SetU32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void SetU64(std::vector<uint8_t>& b, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
// Rewrites the header CRC so that a deliberately edited header passes the checksum.
void FixHeaderCrc(std::vector<uint8_t>& b) { SetU32(b, 140, Crc32c(b.data(), 140)); }

RecordExpectation ExpectFor(const RecordMeta& meta) {
  return RecordExpectation{meta.model_fingerprint, meta.salt_hash, meta.key};
}

const std::vector<int32_t> kTokens = {0, 1, -1, 65535, std::numeric_limits<int32_t>::max(),
                                      std::numeric_limits<int32_t>::min()};
const std::vector<uint8_t> kPayload = {1, 2, 3, 250, 0, 7, 9};
const std::vector<int32_t> kSmallTokens = {10, 20, 30};
const std::vector<uint8_t> kSmallPayload = {5, 6, 7, 8, 9};

TEST(CacheRecordTest, RoundTrip) {
  const RecordMeta meta = TestMeta(TestKey(5));
  const std::vector<uint8_t> bytes = EncodeRecord(meta, kTokens, kPayload);
  ASSERT_EQ(bytes.size(), 144u + 4 * 6 + 7);
  EXPECT_EQ(EncodedRecordSize(6, 7), bytes.size());
  auto record = DecodeRecord(bytes, ExpectFor(meta));
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->meta.kind, RecordKind::kStateSnapshot);
  EXPECT_EQ(record->meta.model_fingerprint, meta.model_fingerprint);
  EXPECT_EQ(record->meta.salt_hash, meta.salt_hash);
  EXPECT_EQ(record->meta.key, meta.key);
  EXPECT_EQ(record->tokens, kTokens);
  EXPECT_EQ(record->payload, kPayload);

  auto header = VerifyRecordIntegrity(bytes);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->token_count, 6u);
  EXPECT_EQ(header->payload_length, 7u);
}

TEST(CacheRecordTest, EmptyTokensAndPayload) {
  RecordMeta meta = TestMeta(TestKey(1));
  meta.kind = RecordKind::kCompressedRows;
  const std::vector<uint8_t> bytes = EncodeRecord(meta, {}, {});
  ASSERT_EQ(bytes.size(), 144u);
  auto record = DecodeRecord(bytes, ExpectFor(meta));
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->meta.kind, RecordKind::kCompressedRows);
  EXPECT_TRUE(record->tokens.empty());
  EXPECT_TRUE(record->payload.empty());
}

// The byte layout documented in docs/cache_format.md.
TEST(CacheRecordTest, Layout) {
  const RecordMeta meta = TestMeta(TestKey(9));
  const std::vector<uint8_t> b = EncodeRecord(meta, kTokens, kPayload);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), std::string("GFCACHE\0", 8));
  EXPECT_EQ(U32At(b, 8), 1u);
  EXPECT_EQ(b[12], 2);
  EXPECT_EQ(b[13] | b[14] | b[15], 0);
  EXPECT_EQ(0, std::memcmp(b.data() + 16, meta.model_fingerprint.data(), 32));
  EXPECT_EQ(0, std::memcmp(b.data() + 48, meta.salt_hash.data(), 32));
  EXPECT_EQ(0, std::memcmp(b.data() + 80, meta.key.data(), 32));
  EXPECT_EQ(U64At(b, 112), 6u);
  EXPECT_EQ(U64At(b, 120), 7u);
  EXPECT_EQ(U32At(b, 128), Crc32c(b.data() + 144, 24));
  EXPECT_EQ(U32At(b, 132), Crc32c(b.data() + 168, 7));
  EXPECT_EQ(U32At(b, 136), 0u);
  EXPECT_EQ(U32At(b, 140), Crc32c(b.data(), 140));
  EXPECT_EQ(U32At(b, 144), 0u);
  EXPECT_EQ(U32At(b, 148), 1u);
  EXPECT_EQ(U32At(b, 152), 0xffffffffu);
  EXPECT_EQ(U32At(b, 156), 65535u);
  EXPECT_EQ(U32At(b, 164), 0x80000000u);
  EXPECT_EQ(b[168], 1);
  EXPECT_EQ(b[174], 9);
}

TEST(CacheRecordTest, EveryBitFlipIsDataLoss) {
  const RecordMeta meta = TestMeta(TestKey(3));
  const std::vector<uint8_t> good = EncodeRecord(meta, kSmallTokens, kSmallPayload);
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = good;
      bad[i] ^= static_cast<uint8_t>(1u << bit);
      auto decoded = DecodeRecord(bad, ExpectFor(meta));
      ASSERT_FALSE(decoded.ok()) << "byte " << i << " bit " << bit;
      ASSERT_EQ(decoded.status().code(), StatusCode::kDataLoss) << "byte " << i << " bit " << bit;
      ASSERT_FALSE(VerifyRecordIntegrity(bad).ok());
    }
  }
}

TEST(CacheRecordTest, EveryTruncationAndExtensionIsDataLoss) {
  const RecordMeta meta = TestMeta(TestKey(3));
  const std::vector<uint8_t> good = EncodeRecord(meta, kSmallTokens, kSmallPayload);
  for (size_t len = 0; len < good.size(); ++len) {
    auto decoded = DecodeRecord(std::span<const uint8_t>(good).first(len), ExpectFor(meta));
    ASSERT_FALSE(decoded.ok()) << "length " << len;
    ASSERT_EQ(decoded.status().code(), StatusCode::kDataLoss) << "length " << len;
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  EXPECT_EQ(DecodeRecord(longer, ExpectFor(meta)).status().code(), StatusCode::kDataLoss);
}

TEST(CacheRecordTest, ZeroFilledIsDataLoss) {
  const RecordMeta meta = TestMeta(TestKey(3));
  const std::vector<uint8_t> zeros(EncodedRecordSize(3, 5), 0);
  auto decoded = DecodeRecord(zeros, ExpectFor(meta));
  EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(decoded.status().message(), "cache record: bad magic");
  EXPECT_EQ(VerifyRecordIntegrity(std::vector<uint8_t>(4096, 0)).status().code(), StatusCode::kDataLoss);
}

// Header edits with a recomputed header CRC: each field check fires on its own.
TEST(CacheRecordTest, HeaderFieldChecks) {
  const RecordMeta meta = TestMeta(TestKey(4));
  const std::vector<uint8_t> good = EncodeRecord(meta, kSmallTokens, kSmallPayload);
  auto expect_loss = [&](std::vector<uint8_t> bad, const std::string& message) {
    FixHeaderCrc(bad);
    auto decoded = DecodeRecord(bad, ExpectFor(meta));
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(decoded.status().message().find(message), std::string::npos)
        << decoded.status().message();
  };
  {
    auto bad = good;
    bad[0] = 'X';
    expect_loss(bad, "bad magic");
  }
  {
    auto bad = good;
    SetU32(bad, 8, 2);
    expect_loss(bad, "format version 2");
  }
  {
    auto bad = good;
    bad[12] = 0;
    expect_loss(bad, "unknown kind 0");
  }
  {
    auto bad = good;
    bad[12] = 3;
    expect_loss(bad, "unknown kind 3");
  }
  {
    auto bad = good;
    bad[14] = 1;
    expect_loss(bad, "reserved");
  }
  {
    auto bad = good;
    SetU32(bad, 136, 1);
    expect_loss(bad, "reserved");
  }
  // Lengths beyond the buffer, including ones whose byte size overflows 64 bits.
  for (uint64_t count : {uint64_t{4}, uint64_t{1} << 62, uint64_t{1} << 63,
                         std::numeric_limits<uint64_t>::max()}) {
    auto bad = good;
    SetU64(bad, 112, count);
    expect_loss(bad, count == 4 ? "payload length" : "token count exceeds");
  }
  for (uint64_t length : {uint64_t{4}, uint64_t{6}, std::numeric_limits<uint64_t>::max()}) {
    auto bad = good;
    SetU64(bad, 120, length);
    expect_loss(bad, "payload length");
  }
  {
    auto bad = good;
    SetU32(bad, 128, U32At(bad, 128) ^ 1u);
    expect_loss(bad, "token checksum");
  }
  {
    auto bad = good;
    SetU32(bad, 132, U32At(bad, 132) ^ 1u);
    expect_loss(bad, "payload checksum");
  }
  {
    auto bad = good;
    SetU32(bad, 140, U32At(bad, 140) ^ 1u);
    auto decoded = DecodeRecord(bad, ExpectFor(meta));
    EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss);
    EXPECT_EQ(decoded.status().message(), "cache record: header checksum mismatch");
  }
}

TEST(CacheRecordTest, WrongFingerprintSaltOrKeyIsFailedPrecondition) {
  const RecordMeta meta = TestMeta(TestKey(6));
  const std::vector<uint8_t> bytes = EncodeRecord(meta, kTokens, kPayload);
  {
    RecordExpectation e = ExpectFor(meta);
    e.model_fingerprint[31] ^= 1;
    auto decoded = DecodeRecord(bytes, e);
    EXPECT_EQ(decoded.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(decoded.status().message(), "cache record: model fingerprint mismatch");
  }
  {
    RecordExpectation e = ExpectFor(meta);
    e.salt_hash[0] ^= 0x80;
    auto decoded = DecodeRecord(bytes, e);
    EXPECT_EQ(decoded.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(decoded.status().message(), "cache record: tenant salt mismatch");
  }
  {
    RecordExpectation e = ExpectFor(meta);
    e.key = TestKey(7);
    auto decoded = DecodeRecord(bytes, e);
    EXPECT_EQ(decoded.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(decoded.status().message(), "cache record: prefix key mismatch");
  }
  // Integrity alone does not look at the expectation.
  EXPECT_TRUE(VerifyRecordIntegrity(bytes).ok());
}

}  // namespace
}  // namespace gf::cache
