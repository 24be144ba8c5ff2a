// The prefix cache's payload formats (engine/prefix_cache/snapshot_payload.h) and the
// recurrent-only state serialisation (SequenceState::SerializeRecurrent / FromParts): exact
// layouts, lossless codecs, and rejection of every kind of malformed input without reading out of
// bounds.
#include "engine/prefix_cache/snapshot_payload.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "engine/model/random_weights.h"
#include "engine/sequence_state.h"
#include "kernels/tensor.h"

namespace gf {
namespace {

std::vector<float> Bf16ExactRows(size_t n) {
  std::vector<float> rows(n);
  for (size_t i = 0; i < n; ++i)
    rows[i] = kernels::Bf16ToF32(static_cast<uint16_t>(0x3f80 + i * 3));
  return rows;
}

TEST(RowSegmentTest, LayoutIsExact) {
  const std::vector<float> rows = {1.0f, -2.5f, 0.1f, 3.0f, 4.0f, 5.0f};  // 3 rows of width 2
  const std::vector<uint8_t> p = EncodeRowSegment(7, 10, 2, rows, RowCodec::kF32);
  ASSERT_EQ(p.size(), kRowSegmentHeaderBytes + 6 * 4);
  const std::vector<uint8_t> header = {1,  0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
                                       10, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(std::vector<uint8_t>(p.begin(), p.begin() + 32), header);
  uint32_t bits;
  std::memcpy(&bits, p.data() + 32 + 8, 4);  // third value, little-endian
  EXPECT_EQ(bits, std::bit_cast<uint32_t>(0.1f));

  auto decoded = DecodeRowSegment(p, 2);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->begin, 7);
  EXPECT_EQ(decoded->end, 10);
  EXPECT_EQ(decoded->codec, RowCodec::kF32);
  EXPECT_EQ(decoded->rows, rows);
}

TEST(RowSegmentTest, Bf16OnlyWhenEveryValueIsExact) {
  std::vector<float> rows = Bf16ExactRows(64);
  rows[5] = -0.0f;
  rows[6] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ChooseRowCodec(rows, true), RowCodec::kBF16);
  EXPECT_EQ(ChooseRowCodec(rows, false), RowCodec::kF32);
  const std::vector<uint8_t> p = EncodeRowSegment(0, 16, 4, rows, RowCodec::kBF16);
  EXPECT_EQ(p.size(), kRowSegmentHeaderBytes + 64 * 2);
  auto decoded = DecodeRowSegment(p, 4);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->codec, RowCodec::kBF16);
  ASSERT_EQ(decoded->rows.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint32_t>(decoded->rows[i]), std::bit_cast<uint32_t>(rows[i])) << i;
  }
  // One value with a low bit set (the smallest F32 step above 1.0) forces F32.
  rows[63] = std::nextafter(1.0f, 2.0f);
  EXPECT_EQ(ChooseRowCodec(rows, true), RowCodec::kF32);
  // A signalling NaN whose low half is zero stays bit-exact through BF16.
  std::vector<float> nan_rows = {std::bit_cast<float>(0x7f810000u), 1.0f};
  ASSERT_EQ(ChooseRowCodec(nan_rows, true), RowCodec::kBF16);
  auto nan_decoded = DecodeRowSegment(EncodeRowSegment(0, 1, 2, nan_rows, RowCodec::kBF16), 2);
  ASSERT_TRUE(nan_decoded.ok());
  EXPECT_EQ(std::bit_cast<uint32_t>(nan_decoded->rows[0]), 0x7f810000u);
}

TEST(RowSegmentTest, RejectsEveryInconsistency) {
  const std::vector<float> rows = Bf16ExactRows(12);
  const std::vector<uint8_t> good = EncodeRowSegment(4, 7, 4, rows, RowCodec::kF32);
  ASSERT_TRUE(DecodeRowSegment(good, 4).ok());
  auto expect_loss = [](std::vector<uint8_t> bytes, int width, const char* what) {
    auto r = DecodeRowSegment(bytes, width);
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << what;
  };
  expect_loss({}, 4, "empty");
  expect_loss(std::vector<uint8_t>(good.begin(), good.begin() + 31), 4, "short header");
  expect_loss(std::vector<uint8_t>(good.begin(), good.end() - 1), 4, "one byte short");
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  expect_loss(longer, 4, "one byte extra");
  expect_loss(good, 3, "other width");
  auto patched = [&good](size_t offset, uint8_t value) {
    std::vector<uint8_t> b = good;
    b[offset] = value;
    return b;
  };
  expect_loss(patched(0, 2), 4, "version");
  expect_loss(patched(4, 0), 4, "codec 0");
  expect_loss(patched(4, 3), 4, "codec 3");
  expect_loss(patched(4, 2), 4, "bf16 codec with f32 length");
  expect_loss(patched(6, 1), 4, "reserved");
  expect_loss(patched(29, 1), 4, "reserved 2");
  expect_loss(patched(8, 7), 4, "begin == end");
  expect_loss(patched(8, 9), 4, "begin > end");
  expect_loss(patched(16, 200), 4, "end past the rows");
  expect_loss(patched(23, 0x80), 4, "huge end");
  // A huge row count whose byte size would overflow if multiplied carelessly.
  std::vector<uint8_t> huge = good;
  for (int i = 16; i < 20; ++i) huge[static_cast<size_t>(i)] = 0xff;
  expect_loss(huge, 4, "end 2^32 - 1");
}

TEST(SnapshotPayloadTest, RoundTripAndLayout) {
  SnapshotPayload s;
  s.position = 100;
  s.segment_ends = {32, 64, 100};
  s.recurrent = "abc";
  const std::vector<uint8_t> p = EncodeSnapshotPayload(s);
  ASSERT_EQ(p.size(), kSnapshotHeaderBytes + 3 * 8 + 8 + 3);
  EXPECT_EQ(p[0], 1);    // version
  EXPECT_EQ(p[8], 100);  // position
  EXPECT_EQ(p[16], 3);   // k
  EXPECT_EQ(p[24], 32);
  EXPECT_EQ(p[48], 3);  // recurrent length
  EXPECT_EQ(p[56], 'a');
  auto d = DecodeSnapshotPayload(p);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->position, 100);
  EXPECT_EQ(d->segment_ends, s.segment_ends);
  EXPECT_EQ(d->recurrent, "abc");
}

TEST(SnapshotPayloadTest, RejectsEveryInconsistency) {
  SnapshotPayload s;
  s.position = 100;
  s.segment_ends = {32, 64, 100};
  s.recurrent = "abcdef";
  const std::vector<uint8_t> good = EncodeSnapshotPayload(s);
  auto expect_loss = [](const std::vector<uint8_t>& bytes, const char* what) {
    EXPECT_EQ(DecodeSnapshotPayload(bytes).status().code(), StatusCode::kDataLoss) << what;
  };
  for (size_t cut = 0; cut < good.size(); ++cut) {
    expect_loss(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(cut)), "cut");
  }
  std::vector<uint8_t> longer = good;
  longer.push_back('x');
  expect_loss(longer, "extra byte");
  auto patched = [&good](size_t offset, uint8_t value) {
    std::vector<uint8_t> b = good;
    b[offset] = value;
    return b;
  };
  expect_loss(patched(0, 9), "version");
  expect_loss(patched(5, 1), "reserved");
  expect_loss(patched(8, 0), "position 0");
  expect_loss(patched(8, 99), "last end != position");
  expect_loss(patched(16, 0), "no segments");
  expect_loss(patched(16, 4), "k too large");
  expect_loss(patched(23, 0x10), "k huge");
  expect_loss(patched(24, 64), "ends not ascending");
  expect_loss(patched(24, 0), "first end 0");
  expect_loss(patched(48, 5), "recurrent length short");
  expect_loss(patched(55, 1), "recurrent length huge");
  SnapshotPayload empty = s;
  empty.recurrent.clear();
  expect_loss(EncodeSnapshotPayload(empty), "no recurrent state");
}

TEST(SnapshotPayloadTest, ValidSegmentEnds) {
  EXPECT_TRUE(ValidSegmentEnds(std::vector<int64_t>{5}, 5));
  EXPECT_TRUE(ValidSegmentEnds(std::vector<int64_t>{1, 2, 5}, 5));
  EXPECT_FALSE(ValidSegmentEnds(std::vector<int64_t>{}, 5));
  EXPECT_FALSE(ValidSegmentEnds(std::vector<int64_t>{0, 5}, 5));
  EXPECT_FALSE(ValidSegmentEnds(std::vector<int64_t>{3, 3, 5}, 5));
  EXPECT_FALSE(ValidSegmentEnds(std::vector<int64_t>{3, 4}, 5));
  EXPECT_FALSE(ValidSegmentEnds(std::vector<int64_t>{-1, 5}, 5));
}

// ---- SequenceState::SerializeRecurrent / FromParts ----

class RecurrentStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = RandomConfig(4, 64, 257);
    ASSERT_TRUE(config_.Finalize().ok());
    state_ = SequenceState(config_, kernels::DType::kF32);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int l = 0; l < config_.n_layer; ++l) {
      for (int i = 0; i < config_.n_embd; ++i) {
        state_.att_shift(l)[i] = u(rng);
        state_.ffn_shift(l)[i] = u(rng);
      }
    }
    for (int l = 0; l < config_.first_gold_layer; ++l) {
      for (size_t i = 0; i < state_.wkv_elements_per_layer(); ++i) state_.wkv_state(l)[i] = u(rng);
    }
    for (int i = 0; i < config_.dim_att; ++i) state_.carry_kc()[i] = u(rng);
    for (int i = 0; i < config_.n_embd; ++i) state_.carry_o()[i] = u(rng);
    tokens_ = {5, 0, 256, 17};
    rows_.resize(tokens_.size() * static_cast<size_t>(config_.compressed_dim));
    for (float& v : rows_) v = u(rng);
    state_.AppendTokens(tokens_, rows_.data());
  }

  ModelConfig config_;
  SequenceState state_;
  std::vector<int32_t> tokens_;
  std::vector<float> rows_;
};

TEST_F(RecurrentStateTest, FromPartsRebuildsTheSameState) {
  const std::string recurrent = state_.SerializeRecurrent();
  EXPECT_EQ(recurrent.size(), 56 + state_.recurrent_bytes() + 4);
  EXPECT_EQ(recurrent.substr(0, 8), std::string("GFRECST\0", 8));
  auto rebuilt = SequenceState::FromParts(config_, kernels::DType::kF32, tokens_, rows_, recurrent);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_FALSE(rebuilt->kv_materialised());
  EXPECT_EQ(rebuilt->kv_rows(), 0);
  EXPECT_EQ(rebuilt->Serialize(), state_.Serialize()) << "tokens, rows and recurrent part equal";
  EXPECT_EQ(rebuilt->SerializeRecurrent(), recurrent);
  // The recurrent part does not depend on the tokens.
  auto empty = SequenceState::FromParts(config_, kernels::DType::kF32, {}, {}, recurrent);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->num_tokens(), 0);
  EXPECT_EQ(empty->SerializeRecurrent(), recurrent);
}

TEST_F(RecurrentStateTest, FromPartsRejectsBadParts) {
  const std::string recurrent = state_.SerializeRecurrent();
  const auto F32 = kernels::DType::kF32;
  for (size_t pos :
       {size_t{0}, size_t{9}, size_t{30}, recurrent.size() / 2, recurrent.size() - 1}) {
    std::string bad = recurrent;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x04);
    EXPECT_EQ(SequenceState::FromParts(config_, F32, tokens_, rows_, bad).status().code(),
              StatusCode::kDataLoss)
        << "bit flip at " << pos;
  }
  for (size_t keep : {size_t{0}, size_t{10}, size_t{59}, recurrent.size() - 1}) {
    EXPECT_EQ(SequenceState::FromParts(config_, F32, tokens_, rows_, recurrent.substr(0, keep))
                  .status()
                  .code(),
              StatusCode::kDataLoss)
        << "truncated to " << keep;
  }
  EXPECT_EQ(
      SequenceState::FromParts(config_, F32, tokens_, rows_, state_.Serialize()).status().code(),
      StatusCode::kDataLoss)
      << "a full state is not a recurrent part";
  // Rows that do not match the tokens, ids outside the vocabulary, another model's shape.
  std::vector<float> short_rows(rows_.begin(), rows_.end() - 1);
  EXPECT_EQ(SequenceState::FromParts(config_, F32, tokens_, short_rows, recurrent).status().code(),
            StatusCode::kInvalidArgument);
  std::vector<int32_t> bad_ids = tokens_;
  bad_ids[2] = 257;
  EXPECT_EQ(SequenceState::FromParts(config_, F32, bad_ids, rows_, recurrent).status().code(),
            StatusCode::kDataLoss);
  bad_ids[2] = -1;
  EXPECT_EQ(SequenceState::FromParts(config_, F32, bad_ids, rows_, recurrent).status().code(),
            StatusCode::kDataLoss);
  ModelConfig wider = RandomConfig(4, 128, 257);
  ASSERT_TRUE(wider.Finalize().ok());
  EXPECT_EQ(SequenceState::FromParts(wider, F32, {}, {}, recurrent).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gf
