// TensorView methods, view builders and the scalar dtype helpers declared in tensor.h.
#include "kernels/tensor.h"

#include <cmath>
#include <initializer_list>

namespace gf::kernels {

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kBF16: return 2;
    case DType::kF16: return 2;
    case DType::kI32: return 4;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kBF16: return "bf16";
    case DType::kF16: return "f16";
    case DType::kI32: return "i32";
  }
  return "unknown";
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int d = 0; d < rank; ++d) n *= shape[d];
  return n;
}

bool TensorView::is_contiguous() const {
  int64_t expected = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (shape[d] != 1 && stride[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

TensorView TensorView::RowSlice(int64_t begin, int64_t count) const {
  TensorView v = *this;
  if (rank < 2) return v;
  v.shape[0] = count;
  if (data != nullptr) {
    v.data = static_cast<char*>(data) +
             begin * stride[0] * static_cast<int64_t>(DTypeSize(dtype));
  }
  return v;
}

TensorView TensorView::ColSlice(int64_t begin, int64_t count) const {
  TensorView v = *this;
  if (rank < 1) return v;
  v.shape[rank - 1] = count;
  if (data != nullptr) {
    v.data = static_cast<char*>(data) +
             begin * stride[rank - 1] * static_cast<int64_t>(DTypeSize(dtype));
  }
  return v;
}

std::string TensorView::ShapeString() const {
  std::string s = "[";
  for (int d = 0; d < rank; ++d) {
    if (d > 0) s += ", ";
    s += std::to_string(shape[d]);
  }
  s += "]";
  if (rank >= 2 && !is_contiguous()) s += " ld=" + std::to_string(stride[0]);
  s += " ";
  s += DTypeName(dtype);
  return s;
}

TensorView Mat(void* data, DType dtype, int64_t rows, int64_t cols, int64_t ld, Device device) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.device = device;
  v.rank = 2;
  v.shape[0] = rows;
  v.shape[1] = cols;
  v.stride[0] = ld < 0 ? cols : ld;
  v.stride[1] = 1;
  return v;
}

TensorView Vec(void* data, DType dtype, int64_t n, Device device) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.device = device;
  v.rank = 1;
  v.shape[0] = n;
  v.stride[0] = 1;
  return v;
}

TensorView Tensor(void* data, DType dtype, std::initializer_list<int64_t> shape, Device device) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.device = device;
  int rank = 0;
  for (int64_t d : shape) {
    if (rank == TensorView::kMaxRank) break;  // extra dimensions are ignored (callers keep <= 4)
    v.shape[rank++] = d;
  }
  v.rank = rank;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    v.stride[d] = stride;
    stride *= v.shape[d];
  }
  return v;
}

float F16ToF32(uint16_t v) {
  const uint32_t sign = static_cast<uint32_t>(v & 0x8000u) << 16;
  const uint32_t exponent = (v >> 10) & 0x1fu;
  const uint32_t mantissa = v & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in f32.
    float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    std::memcpy(&bits, &magnitude, sizeof(bits));
    bits |= sign;
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf or NaN (payload kept)
  } else {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint16_t F32ToF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) {  // NaN: stays a (quiet) NaN
    return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  if (magnitude >= 0x477ff000u) {  // >= 65520 rounds to infinity (ties to even)
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (magnitude >= 0x38800000u) {  // normal half: rebias the exponent, round the mantissa
    const uint32_t rounded = magnitude + 0x0fffu + ((magnitude >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((rounded >> 13) - (112u << 10)));
  }
  // Subnormal half (or zero): units of 2^-24, round to nearest even.
  float abs_value;
  std::memcpy(&abs_value, &magnitude, sizeof(abs_value));
  const auto units = static_cast<uint32_t>(std::nearbyint(abs_value * 16777216.0f));
  return static_cast<uint16_t>(sign | units);
}

}  // namespace gf::kernels
