// CPU embedding gather and dtype conversions, plus the CPU feature probe used by the backend.
#include <immintrin.h>

#include <atomic>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"

namespace gf::kernels::cpu {
namespace {

// Converts n contiguous elements of one dtype to another (scalar, exact rounding rules of
// tensor.h).
void ConvertRowScalar(const void* src, DType src_type, void* dst, DType dst_type, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float f = 0.0f;
    switch (src_type) {
      case DType::kF32:
        f = static_cast<const float*>(src)[i];
        break;
      case DType::kBF16:
        f = Bf16ToF32(static_cast<const uint16_t*>(src)[i]);
        break;
      case DType::kF16:
        f = F16ToF32(static_cast<const uint16_t*>(src)[i]);
        break;
      case DType::kI32:
        break;  // rejected by validation
    }
    switch (dst_type) {
      case DType::kF32:
        static_cast<float*>(dst)[i] = f;
        break;
      case DType::kBF16:
        static_cast<uint16_t*>(dst)[i] = F32ToBf16(f);
        break;
      case DType::kF16:
        static_cast<uint16_t*>(dst)[i] = F32ToF16(f);
        break;
      case DType::kI32:
        break;
    }
  }
}

// bf16 -> f32 with AVX2: a shift of the 16 stored bits into the upper half.
__attribute__((target("avx2,fma"))) void Bf16ToF32RowAvx2(const uint16_t* src, float* dst,
                                                          int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
  }
  for (; i < n; ++i) dst[i] = Bf16ToF32(src[i]);
}

// f32 -> bf16 with AVX2, bit-identical to F32ToBf16: round to nearest even by adding
// 0x7fff + (bit 16) to the bits; a NaN keeps its upper half with the quiet bit set.
__attribute__((target("avx2,fma"))) __m256i Bf16BitsAvx2(__m256i bits) {
  const __m256i abs = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
  const __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
  const __m256i quiet = _mm256_or_si256(bits, _mm256_set1_epi32(0x00400000));
  return _mm256_srli_epi32(_mm256_blendv_epi8(rounded, quiet, nan), 16);
}

__attribute__((target("avx2,fma"))) void F32ToBf16RowAvx2(const float* src, uint16_t* dst,
                                                          int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo = Bf16BitsAvx2(_mm256_castps_si256(_mm256_loadu_ps(src + i)));
    const __m256i hi = Bf16BitsAvx2(_mm256_castps_si256(_mm256_loadu_ps(src + i + 8)));
    // packus works per 128-bit lane (lo0 hi0 lo1 hi1); the permute restores the element order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), packed);
  }
  for (; i < n; ++i) dst[i] = F32ToBf16(src[i]);
}

void ConvertRow(const void* src, DType src_type, void* dst, DType dst_type, int64_t n) {
  if (src_type == dst_type) {
    std::memcpy(dst, src, static_cast<size_t>(n) * DTypeSize(src_type));
    return;
  }
  if (src_type == DType::kBF16 && dst_type == DType::kF32 && HasAvx2Fma()) {
    Bf16ToF32RowAvx2(static_cast<const uint16_t*>(src), static_cast<float*>(dst), n);
    return;
  }
  if (src_type == DType::kF32 && dst_type == DType::kBF16 && HasAvx2Fma()) {
    F32ToBf16RowAvx2(static_cast<const float*>(src), static_cast<uint16_t*>(dst), n);
    return;
  }
  ConvertRowScalar(src, src_type, dst, dst_type, n);
}

}  // namespace

namespace {
std::atomic<bool> g_force_scalar{false};
}  // namespace

bool HasAvx2Fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has && !g_force_scalar.load(std::memory_order_relaxed);
}

void ForceScalarForTesting(bool force) { g_force_scalar.store(force, std::memory_order_relaxed); }

void EmbeddingGather(const TensorView& table, std::span<const int32_t> ids, const TensorView& out) {
  const size_t elem = DTypeSize(table.dtype);
  const int64_t C = table.cols();
  for (size_t t = 0; t < ids.size(); ++t) {
    const char* row = static_cast<const char*>(table.data) +
                      static_cast<size_t>(ids[t]) * static_cast<size_t>(table.ld()) * elem;
    ConvertRow(row, table.dtype, out.row_ptr<float>(static_cast<int64_t>(t)), DType::kF32, C);
  }
}

void Convert(const TensorView& src, const TensorView& dst) {
  const size_t src_elem = DTypeSize(src.dtype);
  const size_t dst_elem = DTypeSize(dst.dtype);
  const int64_t rows = src.rows();
  const int64_t cols = src.cols();
  if (src.data == dst.data && src.dtype == dst.dtype) return;  // identical view: nothing to do
  for (int64_t r = 0; r < rows; ++r) {
    const char* s =
        static_cast<const char*>(src.data) + static_cast<size_t>(r * src.ld()) * src_elem;
    char* d = static_cast<char*>(dst.data) + static_cast<size_t>(r * dst.ld()) * dst_elem;
    ConvertRow(s, src.dtype, d, dst.dtype, cols);
  }
}

}  // namespace gf::kernels::cpu
