// Small row primitives shared by the CPU kernels, in two interchangeable flavours: ScalarOps
// (plain loops, the readable oracle, any x86-64 CPU) and Avx2Ops (AVX2 + FMA intrinsics).
//
// Contract: all functions work on n contiguous floats, any n >= 0 (tails handled), pointers need
// no alignment; outputs may alias inputs exactly (in place). Avx2Ops may only run when
// HasAvx2Fma() is true. Kernels are written once as templates over the Ops type and
// instantiated from a GF_TARGET_AVX2 entry point (so the whole body compiles for AVX2) and from
// a plain one. Accuracy: Avx2Ops::Exp has a relative error below 2e-7 for results above
// FLT_MIN (smaller results flush to 0); sums and dots differ from ScalarOps only by the order of
// the additions.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#define GF_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GF_INLINE inline __attribute__((always_inline))

namespace gf::kernels::cpu {

struct ScalarOps {
  static GF_INLINE float Dot(const float* a, const float* b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
  }
  // y += alpha * x
  static GF_INLINE void Axpy(float* y, float alpha, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
  }
  // y = a * b
  static GF_INLINE void Mul(float* y, const float* a, const float* b, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
  }
  // y *= s
  static GF_INLINE void Scale(float* y, float s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] *= s;
  }
  // y[i] = exp(-exp(w[i])), the RWKV-6 decay.
  static GF_INLINE void Decay(float* y, const float* w, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = std::exp(-std::exp(w[i]));
  }
  // x[i] = exp(x[i] - shift); returns the sum of the new x.
  static GF_INLINE float ExpShiftSum(float* x, float shift, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      x[i] = std::exp(x[i] - shift);
      sum += x[i];
    }
    return sum;
  }
  // C[M][N] += A[M][K] * B[K][N]; A[m][k] is at a[m * a_rs + k * a_cs], B and C are row-major
  // with row strides ldb and ldc.
  static GF_INLINE void MatMulAcc(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs,
                                  int64_t a_cs, const float* b, int64_t ldb, float* c,
                                  int64_t ldc) {
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t k = 0; k < K; ++k) Axpy(c + m * ldc, a[m * a_rs + k * a_cs], b + k * ldb, N);
    }
  }
  static GF_INLINE void Tanh(float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
  }
  static GF_INLINE void Sigmoid(float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
  }
  // k[i] *= 1 - exp(-exp(w[i])), as -expm1 for full relative accuracy on weak decays.
  static GF_INLINE void ScaleByOneMinusDecay(float* k, const float* w, int64_t n) {
    for (int64_t i = 0; i < n; ++i) k[i] *= -std::expm1(-std::exp(w[i]));
  }
  static GF_INLINE float Sum(const float* x, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += x[i];
    return s;
  }
  // sum (x[i] - mean)^2
  static GF_INLINE float SumSquaredDeviation(const float* x, float mean, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += (x[i] - mean) * (x[i] - mean);
    return s;
  }
  // y[i] = (x[i] - mean) * inv_std * g[i] + b[i]
  static GF_INLINE void Normalize(float* y, const float* x, float mean, float inv_std,
                                  const float* g, const float* b, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * inv_std * g[i] + b[i];
  }
  // y[i] = x[i] * s
  static GF_INLINE void ScaleTo(float* y, const float* x, float s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s;
  }

  // dst[c * ldd + r] = src[r * lds + c] for a rows x cols block.
  static GF_INLINE void Transpose(int64_t rows, int64_t cols, const float* src, int64_t lds,
                                  float* dst, int64_t ldd) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
    }
  }
  static GF_INLINE void Bf16ToF32(float* y, const uint16_t* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t bits = static_cast<uint32_t>(x[i]) << 16;
      std::memcpy(y + i, &bits, sizeof(float));
    }
  }
  // Fused WKV row step: returns sum_j r[j] s[j], then s[j] = d[j] s[j] + k[j] v.
  static GF_INLINE float WkvRow(float* s, const float* r, const float* d, const float* k, float v,
                                int64_t n) {
    float acc = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      acc += r[j] * s[j];
      s[j] = d[j] * s[j] + k[j] * v;
    }
    return acc;
  }
};

struct Avx2Ops {
  static GF_TARGET_AVX2 inline float HorizontalSum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  // exp(x) for 8 lanes (Cephes-style range reduction + degree-6 polynomial).
  static GF_TARGET_AVX2 inline __m256 Exp(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f);
    const __m256 lo = _mm256_set1_ps(-87.3365447504f);  // below: result < FLT_MIN, flushed to 0
    const __m256 xc = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    const __m256 fx = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i exponent =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
    result = _mm256_blendv_ps(result, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
    result = _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY),
                              _mm256_cmp_ps(x, _mm256_set1_ps(88.7228391f), _CMP_GT_OQ));
    return _mm256_blendv_ps(result, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));  // NaN stays NaN
  }

  static GF_TARGET_AVX2 inline float Dot(const float* a, const float* b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    }
    float s = HorizontalSum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
  }

  static GF_TARGET_AVX2 inline void Axpy(float* y, float alpha, const float* x, int64_t n) {
    const __m256 a = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    }
    for (; i < n; ++i) y[i] += alpha * x[i];
  }

  static GF_TARGET_AVX2 inline void Mul(float* y, const float* a, const float* b, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    }
    for (; i < n; ++i) y[i] = a[i] * b[i];
  }

  static GF_TARGET_AVX2 inline void Scale(float* y, float s, int64_t n) {
    const __m256 sv = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), sv));
    for (; i < n; ++i) y[i] *= s;
  }

  static GF_TARGET_AVX2 inline void Decay(float* y, const float* w, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 e = Exp(_mm256_loadu_ps(w + i));
      _mm256_storeu_ps(y + i, Exp(_mm256_xor_ps(e, sign)));
    }
    for (; i < n; ++i) y[i] = std::exp(-std::exp(w[i]));
  }

  static GF_TARGET_AVX2 inline float WkvRow(float* s, const float* r, const float* d,
                                               const float* k, float v, int64_t n) {
    const __m256 vv = _mm256_set1_ps(v);
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
      const __m256 sj = _mm256_loadu_ps(s + j);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(r + j), sj, acc);
      _mm256_storeu_ps(s + j, _mm256_fmadd_ps(_mm256_loadu_ps(d + j), sj,
                                              _mm256_mul_ps(_mm256_loadu_ps(k + j), vv)));
    }
    float total = HorizontalSum(acc);
    for (; j < n; ++j) {
      total += r[j] * s[j];
      s[j] = d[j] * s[j] + k[j] * v;
    }
    return total;
  }

  static GF_TARGET_AVX2 inline float ExpShiftSum(float* x, float shift, int64_t n) {
    const __m256 sh = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh));
      _mm256_storeu_ps(x + i, e);
      acc = _mm256_add_ps(acc, e);
    }
    float sum = HorizontalSum(acc);
    for (; i < n; ++i) {
      x[i] = std::exp(x[i] - shift);
      sum += x[i];
    }
    return sum;
  }

  // One register tile of MatMulAcc: MR rows of C, NV vectors of 8 columns.
  template <int MR, int NV>
  static GF_TARGET_AVX2 inline void MatMulTile(int64_t K, const float* a, int64_t a_rs,
                                               int64_t a_cs, const float* b, int64_t ldb,
                                               float* c, int64_t ldc) {
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[m][v] = _mm256_loadu_ps(c + m * ldc + 8 * v);
    }
    for (int64_t k = 0; k < K; ++k) {
      __m256 bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + k * ldb + 8 * v);
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) {
        const __m256 av = _mm256_broadcast_ss(a + m * a_rs + k * a_cs);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[m][v] = _mm256_fmadd_ps(av, bv[v], acc[m][v]);
      }
    }
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(c + m * ldc + 8 * v, acc[m][v]);
    }
  }

  template <int MR>
  static GF_TARGET_AVX2 inline void MatMulRows(int64_t N, int64_t K, const float* a, int64_t a_rs,
                                               int64_t a_cs, const float* b, int64_t ldb,
                                               float* c, int64_t ldc) {
    int64_t n = 0;
    for (; n + 16 <= N; n += 16) MatMulTile<MR, 2>(K, a, a_rs, a_cs, b + n, ldb, c + n, ldc);
    for (; n + 8 <= N; n += 8) MatMulTile<MR, 1>(K, a, a_rs, a_cs, b + n, ldb, c + n, ldc);
    for (; n < N; ++n) {
      for (int m = 0; m < MR; ++m) {
        float s = c[m * ldc + n];
        for (int64_t k = 0; k < K; ++k) s += a[m * a_rs + k * a_cs] * b[k * ldb + n];
        c[m * ldc + n] = s;
      }
    }
  }

  static GF_TARGET_AVX2 inline void MatMulAcc(int64_t M, int64_t N, int64_t K, const float* a,
                                              int64_t a_rs, int64_t a_cs, const float* b,
                                              int64_t ldb, float* c, int64_t ldc) {
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) MatMulRows<4>(N, K, a + m * a_rs, a_rs, a_cs, b, ldb, c + m * ldc, ldc);
    switch (M - m) {
      case 3: MatMulRows<3>(N, K, a + m * a_rs, a_rs, a_cs, b, ldb, c + m * ldc, ldc); break;
      case 2: MatMulRows<2>(N, K, a + m * a_rs, a_rs, a_cs, b, ldb, c + m * ldc, ldc); break;
      case 1: MatMulRows<1>(N, K, a + m * a_rs, a_rs, a_cs, b, ldb, c + m * ldc, ldc); break;
      default: break;
    }
  }

  static GF_TARGET_AVX2 inline void Bf16ToF32(float* y, const uint16_t* x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
      _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
    }
    ScalarOps::Bf16ToF32(y + i, x + i, n - i);
  }

  static GF_TARGET_AVX2 inline void Transpose8x8(const float* src, int64_t lds, float* dst,
                                                 int64_t ldd) {
    __m256 r[8], t[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4) {
      r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
      r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
      r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
      _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
  }

  static GF_TARGET_AVX2 inline void Transpose(int64_t rows, int64_t cols, const float* src,
                                              int64_t lds, float* dst, int64_t ldd) {
    const int64_t rows8 = rows / 8 * 8;
    const int64_t cols8 = cols / 8 * 8;
    for (int64_t r = 0; r < rows8; r += 8) {
      for (int64_t c = 0; c < cols8; c += 8) Transpose8x8(src + r * lds + c, lds, dst + c * ldd + r, ldd);
    }
    ScalarOps::Transpose(rows8, cols - cols8, src + cols8, lds, dst + cols8 * ldd, ldd);
    ScalarOps::Transpose(rows - rows8, cols, src + rows8 * lds, lds, dst + rows8, ldd);
  }

  // tanh: odd polynomial below 0.625 (Cephes tanhf), 1 - 2 / (exp(2|x|) + 1) above.
  static GF_TARGET_AVX2 inline __m256 Tanh(__m256 x) {
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    const __m256 ax = _mm256_andnot_ps(sign_mask, x);
    const __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    const __m256 e = Exp(_mm256_add_ps(ax, ax));
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    large = _mm256_or_ps(large, _mm256_and_ps(sign_mask, x));
    return _mm256_blendv_ps(large, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
  }

  static GF_TARGET_AVX2 inline void Tanh(float* x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, Tanh(_mm256_loadu_ps(x + i)));
    ScalarOps::Tanh(x + i, n - i);
  }

  static GF_TARGET_AVX2 inline void Sigmoid(float* x, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 e = Exp(_mm256_xor_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(-0.0f)));
      _mm256_storeu_ps(x + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
    ScalarOps::Sigmoid(x + i, n - i);
  }

  // 1 - exp(-e): Taylor series for e < 0.5 (relative error < 1e-7), else direct.
  static GF_TARGET_AVX2 inline void ScaleByOneMinusDecay(float* k, const float* w, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 e = Exp(_mm256_loadu_ps(w + i));
      // e (1 - e/2 (1 - e/3 (1 - ... (1 - e/9))))
      __m256 series = one;
      for (int d = 9; d >= 2; --d) {
        series = _mm256_fnmadd_ps(_mm256_mul_ps(e, _mm256_set1_ps(1.0f / static_cast<float>(d))),
                                  series, one);
      }
      series = _mm256_mul_ps(series, e);
      const __m256 direct = _mm256_sub_ps(one, Exp(_mm256_xor_ps(e, _mm256_set1_ps(-0.0f))));
      const __m256 f =
          _mm256_blendv_ps(direct, series, _mm256_cmp_ps(e, _mm256_set1_ps(0.5f), _CMP_LT_OQ));
      _mm256_storeu_ps(k + i, _mm256_mul_ps(_mm256_loadu_ps(k + i), f));
    }
    ScalarOps::ScaleByOneMinusDecay(k + i, w + i, n - i);
  }

  static GF_TARGET_AVX2 inline float Sum(const float* x, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(x + i));
      acc1 = _mm256_add_ps(acc1, _mm256_loadu_ps(x + i + 8));
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(x + i));
    return HorizontalSum(_mm256_add_ps(acc0, acc1)) + ScalarOps::Sum(x + i, n - i);
  }

  static GF_TARGET_AVX2 inline float SumSquaredDeviation(const float* x, float mean, int64_t n) {
    const __m256 m = _mm256_set1_ps(mean);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), m);
      const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m);
      acc0 = _mm256_fmadd_ps(d0, d0, acc0);
      acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    for (; i + 8 <= n; i += 8) {
      const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), m);
      acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    }
    return HorizontalSum(_mm256_add_ps(acc0, acc1)) + ScalarOps::SumSquaredDeviation(x + i, mean, n - i);
  }

  static GF_TARGET_AVX2 inline void Normalize(float* y, const float* x, float mean, float inv_std,
                                              const float* g, const float* b, int64_t n) {
    const __m256 m = _mm256_set1_ps(mean);
    const __m256 s = _mm256_set1_ps(inv_std);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), m), s);
      _mm256_storeu_ps(y + i, _mm256_fmadd_ps(t, _mm256_loadu_ps(g + i), _mm256_loadu_ps(b + i)));
    }
    ScalarOps::Normalize(y + i, x + i, mean, inv_std, g + i, b + i, n - i);
  }

  static GF_TARGET_AVX2 inline void ScaleTo(float* y, const float* x, float s, int64_t n) {
    const __m256 sv = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), sv));
    ScalarOps::ScaleTo(y + i, x + i, s, n - i);
  }
};

}  // namespace gf::kernels::cpu
