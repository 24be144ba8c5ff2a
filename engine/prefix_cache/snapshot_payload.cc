#include "engine/prefix_cache/snapshot_payload.h"

#include <bit>
#include <cstring>
#include <limits>

#include "kernels/tensor.h"

namespace gf {

namespace {

// Token positions are bounded like SequenceState's token count (< 2^32), so every size below
// fits in 64 bits.
constexpr uint64_t kMaxPosition = std::numeric_limits<uint32_t>::max();

void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t LoadU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}
uint64_t LoadU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

uint32_t FloatBits(float f) { return std::bit_cast<uint32_t>(f); }

size_t CodecBytes(RowCodec codec) { return codec == RowCodec::kBF16 ? 2 : 4; }

}  // namespace

const char* RowCodecName(RowCodec codec) { return codec == RowCodec::kBF16 ? "bf16" : "f32"; }

RowCodec ChooseRowCodec(std::span<const float> rows, bool allow_bf16) {
  if (!allow_bf16) return RowCodec::kF32;
  for (float v : rows) {
    // Exact iff the low 16 bits are zero (also keeps every NaN payload and the sign of zero).
    if ((FloatBits(v) & 0xffffu) != 0) return RowCodec::kF32;
  }
  return RowCodec::kBF16;
}

std::vector<uint8_t> EncodeRowSegment(int64_t begin, int64_t end, int compressed_dim,
                                      std::span<const float> rows, RowCodec codec) {
  std::vector<uint8_t> out;
  out.reserve(kRowSegmentHeaderBytes + rows.size() * CodecBytes(codec));
  PutU32(out, kRowSegmentFormatVersion);
  out.push_back(static_cast<uint8_t>(codec));
  out.insert(out.end(), 3, 0);
  PutU64(out, static_cast<uint64_t>(begin));
  PutU64(out, static_cast<uint64_t>(end));
  PutU32(out, static_cast<uint32_t>(compressed_dim));
  PutU32(out, 0);
  const size_t base = out.size();
  out.resize(base + rows.size() * CodecBytes(codec));
  uint8_t* dst = out.data() + base;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (codec == RowCodec::kBF16) {
      // ChooseRowCodec checked that the low half is zero, so truncation is exact (and unlike
      // rounding keeps every NaN bit pattern).
      const auto h = static_cast<uint16_t>(FloatBits(rows[i]) >> 16);
      dst[2 * i] = static_cast<uint8_t>(h);
      dst[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    } else {
      const uint32_t bits = FloatBits(rows[i]);
      for (int b = 0; b < 4; ++b) dst[4 * i + b] = static_cast<uint8_t>(bits >> (8 * b));
    }
  }
  return out;
}

StatusOr<RowSegment> DecodeRowSegment(std::span<const uint8_t> payload, int compressed_dim) {
  if (payload.size() < kRowSegmentHeaderBytes) return DataLoss("row segment: truncated header");
  const uint8_t* p = payload.data();
  const uint32_t version = LoadU32(p);
  if (version != kRowSegmentFormatVersion) {
    return DataLoss("row segment: unknown version " + std::to_string(version));
  }
  const uint8_t codec_byte = p[4];
  if (codec_byte != static_cast<uint8_t>(RowCodec::kF32) &&
      codec_byte != static_cast<uint8_t>(RowCodec::kBF16)) {
    return DataLoss("row segment: unknown codec " + std::to_string(codec_byte));
  }
  if (p[5] != 0 || p[6] != 0 || p[7] != 0 || LoadU32(p + 28) != 0) {
    return DataLoss("row segment: non-zero reserved bytes");
  }
  const uint64_t begin = LoadU64(p + 8);
  const uint64_t end = LoadU64(p + 16);
  const uint32_t width = LoadU32(p + 24);
  if (!(begin < end) || end > kMaxPosition) return DataLoss("row segment: bad range");
  if (compressed_dim <= 0 || width != static_cast<uint32_t>(compressed_dim)) {
    return DataLoss("row segment: width " + std::to_string(width) + " is not the model's " +
                    std::to_string(compressed_dim));
  }
  RowSegment segment;
  segment.begin = static_cast<int64_t>(begin);
  segment.end = static_cast<int64_t>(end);
  segment.codec = static_cast<RowCodec>(codec_byte);
  const size_t value_bytes = CodecBytes(segment.codec);
  // (end - begin) < 2^32 and width < 2^31: the products fit in 64 bits.
  const uint64_t values = (end - begin) * uint64_t{width};
  if (payload.size() - kRowSegmentHeaderBytes != values * value_bytes) {
    return DataLoss("row segment: payload length does not match " + std::to_string(end - begin) +
                    " rows");
  }
  segment.rows.resize(static_cast<size_t>(values));
  const uint8_t* src = p + kRowSegmentHeaderBytes;
  for (size_t i = 0; i < segment.rows.size(); ++i) {
    if (segment.codec == RowCodec::kBF16) {
      segment.rows[i] =
          kernels::Bf16ToF32(static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8)));
    } else {
      segment.rows[i] = std::bit_cast<float>(LoadU32(src + 4 * i));
    }
  }
  return segment;
}

bool ValidSegmentEnds(std::span<const int64_t> ends, int64_t position) {
  if (ends.empty() || ends.back() != position) return false;
  int64_t previous = 0;
  for (int64_t end : ends) {
    if (end <= previous) return false;
    previous = end;
  }
  return true;
}

std::vector<uint8_t> EncodeSnapshotPayload(const SnapshotPayload& snapshot) {
  std::vector<uint8_t> out;
  out.reserve(kSnapshotHeaderBytes + 8 * snapshot.segment_ends.size() + 8 +
              snapshot.recurrent.size());
  PutU32(out, kSnapshotPayloadVersion);
  PutU32(out, 0);
  PutU64(out, static_cast<uint64_t>(snapshot.position));
  PutU64(out, snapshot.segment_ends.size());
  for (int64_t end : snapshot.segment_ends) PutU64(out, static_cast<uint64_t>(end));
  PutU64(out, snapshot.recurrent.size());
  out.insert(out.end(), snapshot.recurrent.begin(), snapshot.recurrent.end());
  return out;
}

StatusOr<SnapshotPayload> DecodeSnapshotPayload(std::span<const uint8_t> payload) {
  if (payload.size() < kSnapshotHeaderBytes) return DataLoss("snapshot: truncated header");
  const uint8_t* p = payload.data();
  const uint32_t version = LoadU32(p);
  if (version != kSnapshotPayloadVersion) {
    return DataLoss("snapshot: unknown version " + std::to_string(version));
  }
  if (LoadU32(p + 4) != 0) return DataLoss("snapshot: non-zero reserved bytes");
  const uint64_t position = LoadU64(p + 8);
  const uint64_t k = LoadU64(p + 16);
  if (position == 0 || position > kMaxPosition) return DataLoss("snapshot: bad position");
  // Each end takes 8 bytes and the recurrent length 8 more: compare, never add, untrusted sizes.
  const size_t after_header = payload.size() - kSnapshotHeaderBytes;
  if (k == 0 || k > position || k > after_header / 8 || after_header - 8 * k < 8) {
    return DataLoss("snapshot: segment count " + std::to_string(k) + " does not fit");
  }
  SnapshotPayload snapshot;
  snapshot.position = static_cast<int64_t>(position);
  snapshot.segment_ends.resize(static_cast<size_t>(k));
  const uint8_t* ends = p + kSnapshotHeaderBytes;
  for (size_t i = 0; i < snapshot.segment_ends.size(); ++i) {
    const uint64_t end = LoadU64(ends + 8 * i);
    if (end > kMaxPosition) return DataLoss("snapshot: bad segment end");
    snapshot.segment_ends[i] = static_cast<int64_t>(end);
  }
  if (!ValidSegmentEnds(snapshot.segment_ends, snapshot.position)) {
    return DataLoss("snapshot: segment ends are not an ascending cover of the prefix");
  }
  const size_t rest = after_header - 8 * static_cast<size_t>(k) - 8;
  const uint64_t m = LoadU64(ends + 8 * k);
  if (m == 0 || m != rest) return DataLoss("snapshot: recurrent length does not fill the payload");
  const uint8_t* recurrent = ends + 8 * k + 8;
  snapshot.recurrent.assign(reinterpret_cast<const char*>(recurrent), static_cast<size_t>(m));
  return snapshot;
}

}  // namespace gf
