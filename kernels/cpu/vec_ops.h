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
  static GF_TARGET_AVX2 GF_INLINE float HorizontalSum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  // exp(x) for 8 lanes (Cephes-style range reduction + degree-6 polynomial).
  static GF_TARGET_AVX2 GF_INLINE __m256 Exp(__m256 x) {
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

  static GF_TARGET_AVX2 GF_INLINE float Dot(const float* a, const float* b, int64_t n) {
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

  static GF_TARGET_AVX2 GF_INLINE void Axpy(float* y, float alpha, const float* x, int64_t n) {
    const __m256 a = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    }
    for (; i < n; ++i) y[i] += alpha * x[i];
  }

  static GF_TARGET_AVX2 GF_INLINE void Mul(float* y, const float* a, const float* b, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    }
    for (; i < n; ++i) y[i] = a[i] * b[i];
  }

  static GF_TARGET_AVX2 GF_INLINE void Scale(float* y, float s, int64_t n) {
    const __m256 sv = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), sv));
    for (; i < n; ++i) y[i] *= s;
  }

  static GF_TARGET_AVX2 GF_INLINE void Decay(float* y, const float* w, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 e = Exp(_mm256_loadu_ps(w + i));
      _mm256_storeu_ps(y + i, Exp(_mm256_xor_ps(e, sign)));
    }
    for (; i < n; ++i) y[i] = std::exp(-std::exp(w[i]));
  }

  static GF_TARGET_AVX2 GF_INLINE float WkvRow(float* s, const float* r, const float* d,
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
};

}  // namespace gf::kernels::cpu
