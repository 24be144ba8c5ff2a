// Non-owning, device-agnostic tensor views used by the kernel API.
//
// A view is {pointer, dtype, device, shape, strides}; it owns nothing and is valid as long as the
// memory it points to. Strides are in elements (not bytes). Most ops work on 2-D row-major
// matrices whose rows may be padded or sliced (row stride >= cols, unit column stride): use
// Mat()/Row()/Cols() to build such views. bf16 values are stored as the upper 16 bits of an
// IEEE float (round-to-nearest-even when converting from f32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace gf::kernels {

enum class DType : uint8_t { kF32 = 0, kBF16 = 1, kF16 = 2, kI32 = 3 };
enum class Device : uint8_t { kCpu = 0, kCuda = 1 };

size_t DTypeSize(DType dtype);
const char* DTypeName(DType dtype);

struct TensorView {
  static constexpr int kMaxRank = 4;

  void* data = nullptr;
  DType dtype = DType::kF32;
  Device device = Device::kCpu;
  int rank = 0;
  int64_t shape[kMaxRank] = {0, 0, 0, 0};
  int64_t stride[kMaxRank] = {0, 0, 0, 0};  // elements

  int64_t rows() const { return rank >= 2 ? shape[0] : 1; }
  int64_t cols() const { return rank >= 1 ? shape[rank - 1] : 1; }
  // Row stride of a 2-D view (elements between consecutive rows).
  int64_t ld() const { return rank >= 2 ? stride[0] : cols(); }
  int64_t numel() const;
  bool is_contiguous() const;
  bool empty() const { return numel() == 0; }

  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
  template <typename T>
  T* row_ptr(int64_t r) const { return static_cast<T*>(data) + r * ld(); }

  // Rows [begin, begin + count) of a 2-D view.
  TensorView RowSlice(int64_t begin, int64_t count) const;
  // Columns [begin, begin + count) of a 2-D view (keeps the row stride).
  TensorView ColSlice(int64_t begin, int64_t count) const;

  std::string ShapeString() const;
};

// A 2-D row-major view [rows, cols] with row stride `ld` (defaults to cols).
TensorView Mat(void* data, DType dtype, int64_t rows, int64_t cols, int64_t ld = -1,
               Device device = Device::kCpu);
inline TensorView MatF32(float* data, int64_t rows, int64_t cols, int64_t ld = -1) {
  return Mat(data, DType::kF32, rows, cols, ld);
}
inline TensorView MatF32(const float* data, int64_t rows, int64_t cols, int64_t ld = -1) {
  return Mat(const_cast<float*>(data), DType::kF32, rows, cols, ld);
}
// A 1-D contiguous view.
TensorView Vec(void* data, DType dtype, int64_t n, Device device = Device::kCpu);
inline TensorView VecF32(const float* data, int64_t n) {
  return Vec(const_cast<float*>(data), DType::kF32, n);
}
// A contiguous N-D view.
TensorView Tensor(void* data, DType dtype, std::initializer_list<int64_t> shape,
                  Device device = Device::kCpu);

// bf16 <-> f32 scalar conversions (round to nearest even; NaN stays NaN).
inline float Bf16ToF32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
inline uint16_t F32ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
float F16ToF32(uint16_t v);
uint16_t F32ToF16(float f);

}  // namespace gf::kernels
