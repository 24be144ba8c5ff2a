// Payload formats of the prefix cache's two record kinds (inside the cache record envelope,
// cache_store/record_format.h). Byte layouts, little-endian, in docs/cache_format.md
// ("Prefix cache"):
//
// Row segment (RecordKind::kCompressedRows; envelope tokens = ids [begin, end)), version 1:
//   u32 version | u8 codec | u8[3] zero | u64 begin | u64 end | u32 compressed_dim | u32 zero |
//   rows[(end - begin) * compressed_dim] as F32 (4 bytes) or BF16 (upper 2 bytes of the F32)
// Snapshot (RecordKind::kStateSnapshot; envelope tokens = ids [0, position)), version 1:
//   u32 version | u32 zero | u64 position | u64 k | u64 segment_ends[k] | u64 m |
//   recurrent[m] (SequenceState::SerializeRecurrent bytes)
//
// The cache is lossless: BF16 is chosen only when every value converts to BF16 and back to the
// same F32 bits (ChooseRowCodec), so decoded rows always equal the rows that were encoded.
// Errors: decoding never reads outside the payload, checks every length against the buffer
// without overflow, and returns DataLoss for anything inconsistent (unknown version or codec,
// non-zero reserved bytes, begin >= end, a width other than the expected one, lengths that do not
// fill the payload exactly, segment ends that are not strictly ascending from > 0 to position).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace gf {

inline constexpr uint32_t kRowSegmentFormatVersion = 1;
inline constexpr uint32_t kSnapshotPayloadVersion = 1;
inline constexpr size_t kRowSegmentHeaderBytes = 32;
inline constexpr size_t kSnapshotHeaderBytes = 24;  // before the segment ends

enum class RowCodec : uint8_t { kF32 = 1, kBF16 = 2 };
const char* RowCodecName(RowCodec codec);  // "f32", "bf16"

// kBF16 when `allow_bf16` and every value of `rows` round-trips exactly through BF16.
RowCodec ChooseRowCodec(std::span<const float> rows, bool allow_bf16);

// Encodes rows [begin, end) ([end - begin, compressed_dim] floats in `rows`). The caller
// guarantees 0 <= begin < end, rows.size() == (end - begin) * compressed_dim and, for kBF16, that
// ChooseRowCodec chose it (otherwise the low 16 bits of each value are dropped).
std::vector<uint8_t> EncodeRowSegment(int64_t begin, int64_t end, int compressed_dim,
                                      std::span<const float> rows, RowCodec codec);

struct RowSegment {
  int64_t begin = 0;
  int64_t end = 0;
  RowCodec codec = RowCodec::kF32;
  std::vector<float> rows;  // [end - begin, compressed_dim], decoded to F32
};

// Decodes a row segment of width `compressed_dim` (DataLoss on any inconsistency).
StatusOr<RowSegment> DecodeRowSegment(std::span<const uint8_t> payload, int compressed_dim);

struct SnapshotPayload {
  int64_t position = 0;
  std::vector<int64_t> segment_ends;  // ascending, last == position
  std::string recurrent;              // SequenceState::SerializeRecurrent()
};

// Encodes a snapshot payload (the caller guarantees the segment ends are valid).
std::vector<uint8_t> EncodeSnapshotPayload(const SnapshotPayload& snapshot);
// Decodes it (DataLoss on any inconsistency, including an empty recurrent part).
StatusOr<SnapshotPayload> DecodeSnapshotPayload(std::span<const uint8_t> payload);

// Whether `ends` is a valid segmentation of [0, position): non-empty, strictly ascending, first
// > 0, last == position.
bool ValidSegmentEnds(std::span<const int64_t> ends, int64_t position);

}  // namespace gf
