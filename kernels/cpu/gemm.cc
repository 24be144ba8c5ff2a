// CPU GEMM y[M,N] = x[M,K] * w[N,K]^T (+ y): F32 or BF16 weights.
//
// Paths:
//  - F32 weights: the dot-tile kernel below for up to kSmallM rows of x (and without OpenBLAS);
//    cblas_sgemm on slices of weight rows, single-threaded inside the pool's tasks, otherwise.
//  - BF16 weights, small M (decode): a memory-bound kernel that streams every weight row once,
//    widens bf16 to f32 in registers and FMAs it against up to 8 rows of x; parallel over N.
//    Tiles of 8 (M = 1) or 2-4 weight rows are read as interleaved streams, which the hardware
//    prefetcher follows poorly, so rows kPrefetchTiles tiles ahead are prefetched explicitly.
//  - BF16 weights, large M (prefill) with OpenBLAS: panels of weight rows are widened to f32 in a
//    scratch buffer and multiplied by sgemm.
//  - A plain scalar path (no AVX2) is the readable oracle.
// The AVX2 BF16 kernel reads 16 bf16 at once: the even elements are (bits << 16) and the odd ones
// (bits & 0xffff0000) of each 32-bit lane, so x is pre-packed per 16 columns as
// [x0 x2 .. x14 | x1 x3 .. x15] to match.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/thread_pool.h"

#ifdef GF_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace gf::kernels::cpu {
namespace {

// BF16: rows of x up to which the streaming kernel is used (measured crossover with sgemm on
// widened panels: between 8 and 16 rows).
constexpr int64_t kSmallM = 12;
constexpr int64_t kRowsPerTask = 64;   // weight rows per parallel task in the streaming kernels
constexpr int64_t kPanelRows = 256;    // BF16 prefill: weight rows widened per sgemm call
constexpr int kPrefetchTiles = 4;      // streaming kernel: software prefetch distance in tiles

float WeightAt(const float* w, int64_t i) { return w[i]; }
float WeightAt(const uint16_t* w, int64_t i) { return Bf16ToF32(w[i]); }

struct GemmArgs {
  const float* x;
  int64_t ldx;
  const void* w;
  int64_t ldw;
  float* y;
  int64_t ldy;
  int64_t M, N, K;
  bool accumulate;
};

// Weight rows per parallel task: at least kRowsPerTask, and enough that a task is worth waking
// a worker for (small LoRA matrices run on the calling thread).
int64_t RowsPerTask(const GemmArgs& g) { return ItemsPerTask(g.N, g.M * g.K, kRowsPerTask); }

// ---- scalar oracle --------------------------------------------------------------------------

template <typename WT>
void ScalarRows(const GemmArgs& g, int64_t n0, int64_t n1) {
  const WT* w = static_cast<const WT*>(g.w);
  for (int64_t m = 0; m < g.M; ++m) {
    const float* xr = g.x + m * g.ldx;
    for (int64_t n = n0; n < n1; ++n) {
      const WT* wr = w + n * g.ldw;
      float s = 0.0f;
      for (int64_t k = 0; k < g.K; ++k) s += xr[k] * WeightAt(wr, k);
      float& out = g.y[m * g.ldy + n];
      out = g.accumulate ? out + s : s;
    }
  }
}

// ---- AVX2 helpers ---------------------------------------------------------------------------

__attribute__((target("avx2,fma"))) inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Writes the MR x NR tile sums (plus the scalar K tail from the unpacked x and w) to y.
template <int MR, int NR, typename WT>
__attribute__((target("avx2,fma"))) inline void StoreTile(__m256 (&acc)[MR][NR], const GemmArgs& g,
                                                          int64_t m0, int64_t n0, int64_t k_tail) {
  const WT* w = static_cast<const WT*>(g.w);
  for (int m = 0; m < MR; ++m) {
    const float* xr = g.x + (m0 + m) * g.ldx;
    for (int n = 0; n < NR; ++n) {
      const WT* wr = w + (n0 + n) * g.ldw;
      float s = HorizontalSum(acc[m][n]);
      for (int64_t k = k_tail; k < g.K; ++k) s += xr[k] * WeightAt(wr, k);
      float& out = g.y[(m0 + m) * g.ldy + n0 + n];
      out = g.accumulate ? out + s : s;
    }
  }
}

// BF16 tile: rows m0..m0+MR of x (packed, row stride ldp) against weight rows n0..n0+NR.
template <int MR, int NR>
__attribute__((target("avx2,fma"))) void Bf16Tile(const GemmArgs& g, const float* packed,
                                                  int64_t ldp, int64_t m0, int64_t n0) {
  const uint16_t* w = static_cast<const uint16_t*>(g.w) + n0 * g.ldw;
  const float* xp = packed + m0 * ldp;
  const __m256i high_mask = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  // Weight rows are read from memory kPrefetchTiles tiles ahead (rows far apart defeat the
  // hardware prefetcher); none past the last row.
  const bool prefetch = n0 + (kPrefetchTiles + 1) * NR <= g.N;
  __m256 acc[MR][NR];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) acc[m][n] = _mm256_setzero_ps();
  }
  const int64_t k_end = g.K / 16 * 16;
  for (int64_t k = 0; k < k_end; k += 16) {
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) {
      if (prefetch && (k & 31) == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(w + (n + kPrefetchTiles * NR) * g.ldw + k), _MM_HINT_T0);
      }
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + n * g.ldw + k));
      const __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(bits, 16));
      const __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(bits, high_mask));
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) {
        acc[m][n] = _mm256_fmadd_ps(_mm256_loadu_ps(xp + m * ldp + k), even, acc[m][n]);
        acc[m][n] = _mm256_fmadd_ps(_mm256_loadu_ps(xp + m * ldp + k + 8), odd, acc[m][n]);
      }
    }
  }
  StoreTile<MR, NR, uint16_t>(acc, g, m0, n0, k_end);
}

// F32 tile (used without BLAS): plain dot products, 8 columns at a time.
template <int MR, int NR>
__attribute__((target("avx2,fma"))) void F32Tile(const GemmArgs& g, int64_t m0, int64_t n0) {
  const float* w = static_cast<const float*>(g.w) + n0 * g.ldw;
  const float* x = g.x + m0 * g.ldx;
  __m256 acc[MR][NR];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) acc[m][n] = _mm256_setzero_ps();
  }
  const int64_t k_end = g.K / 8 * 8;
  for (int64_t k = 0; k < k_end; k += 8) {
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) {
      const __m256 wv = _mm256_loadu_ps(w + n * g.ldw + k);
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) {
        acc[m][n] = _mm256_fmadd_ps(_mm256_loadu_ps(x + m * g.ldx + k), wv, acc[m][n]);
      }
    }
  }
  StoreTile<MR, NR, float>(acc, g, m0, n0, k_end);
}

// Runs the tiles of one block of weight rows [n0, n1) for MR rows of x starting at m0:
// tile.operator()<MR, NR>(m0, n) with compile-time tile sizes (NR = 1 for the last rows).
template <int MR, int NR, typename TileFn>
void RunRowsForM(int64_t m0, int64_t n0, int64_t n1, TileFn&& tile) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) tile.template operator()<MR, NR>(m0, n);
  for (; n < n1; ++n) tile.template operator()<MR, 1>(m0, n);
}

template <typename TileFn>
void RunBlock(int64_t M, int64_t n0, int64_t n1, TileFn&& tile) {
  // Batches of 5-8 rows use one pass over the weights with 8 row accumulators per weight row
  // (weights are widened once per tile instead of once per 4 rows of x).
  int64_t m = 0;
  for (; m + 8 <= M; m += 8) RunRowsForM<8, 1>(m, n0, n1, tile);
  switch (M - m) {
    case 7: RunRowsForM<7, 1>(m, n0, n1, tile); break;
    case 6: RunRowsForM<6, 1>(m, n0, n1, tile); break;
    case 5: RunRowsForM<5, 1>(m, n0, n1, tile); break;
    case 4: RunRowsForM<4, 2>(m, n0, n1, tile); break;
    case 3: RunRowsForM<3, 2>(m, n0, n1, tile); break;
    case 2: RunRowsForM<2, 4>(m, n0, n1, tile); break;
    case 1: RunRowsForM<1, 8>(m, n0, n1, tile); break;
    default: break;
  }
}

// Packs rows of x per 16 columns as [even | odd] for Bf16Tile (columns past K/16*16 unused).
__attribute__((target("avx2,fma"))) void PackEvenOdd(const GemmArgs& g, float* packed,
                                                     int64_t ldp) {
  const int64_t k_end = g.K / 16 * 16;
  for (int64_t m = 0; m < g.M; ++m) {
    const float* xr = g.x + m * g.ldx;
    float* pr = packed + m * ldp;
    for (int64_t k = 0; k < k_end; k += 16) {
      for (int64_t i = 0; i < 8; ++i) {
        pr[k + i] = xr[k + 2 * i];
        pr[k + 8 + i] = xr[k + 2 * i + 1];
      }
    }
  }
}

void Bf16Streaming(const GemmArgs& g) {
  const int64_t ldp = std::max<int64_t>(g.K, 16);
  thread_local std::vector<float> packed;
  packed.resize(static_cast<size_t>(g.M * ldp));
  PackEvenOdd(g, packed.data(), ldp);
  const float* p = packed.data();
  const int64_t rows = RowsPerTask(g);
  const int64_t tasks = (g.N + rows - 1) / rows;
  ParallelForWork(tasks, rows * g.M * g.K, [&g, p, ldp, rows](int64_t task) {
    const int64_t n0 = task * rows;
    const int64_t n1 = std::min(g.N, n0 + rows);
    RunBlock(g.M, n0, n1, [&]<int MR, int NR>(int64_t m0, int64_t n) {
      Bf16Tile<MR, NR>(g, p, ldp, m0, n);
    });
  });
}

void F32Tiled(const GemmArgs& g) {
  const int64_t rows = RowsPerTask(g);
  const int64_t tasks = (g.N + rows - 1) / rows;
  ParallelForWork(tasks, rows * g.M * g.K, [&g, rows](int64_t task) {
    const int64_t n0 = task * rows;
    const int64_t n1 = std::min(g.N, n0 + rows);
    RunBlock(g.M, n0, n1, [&]<int MR, int NR>(int64_t m0, int64_t n) { F32Tile<MR, NR>(g, m0, n); });
  });
}

template <typename WT>
void ScalarParallel(const GemmArgs& g) {
  const int64_t rows = RowsPerTask(g);
  const int64_t tasks = (g.N + rows - 1) / rows;
  ParallelForWork(tasks, rows * g.M * g.K, [&g, rows](int64_t task) {
    const int64_t n0 = task * rows;
    ScalarRows<WT>(g, n0, std::min(g.N, n0 + rows));
  });
}

#ifdef GF_HAVE_OPENBLAS
// One single-threaded BLAS call for weight rows [n0, n1) of `w` (F32).
void F32BlasRows(const GemmArgs& g, const float* w, int64_t ldw, int64_t n0, int64_t n1) {
  const float beta = g.accumulate ? 1.0f : 0.0f;
  if (g.M == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(n1 - n0), static_cast<int>(g.K), 1.0f,
                w + n0 * ldw, static_cast<int>(ldw), g.x, 1, beta, g.y + n0, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(g.M),
              static_cast<int>(n1 - n0), static_cast<int>(g.K), 1.0f, g.x, static_cast<int>(g.ldx),
              w + n0 * ldw, static_cast<int>(ldw), beta, g.y + n0, static_cast<int>(g.ldy));
}

// Weight rows per task of the BLAS paths: sgemm wants wide slices for large M.
int64_t BlasRowsPerTask(const GemmArgs& g) {
  return ItemsPerTask(g.N, g.M * g.K, g.M >= 64 ? kPanelRows : kRowsPerTask);
}

// F32 weights: OpenBLAS runs single-threaded inside this pool's tasks, each on a slice of weight
// rows (OpenBLAS's own threads busy-wait and stall badly when another process holds a core).
void F32Blas(const GemmArgs& g) {
  const float* w = static_cast<const float*>(g.w);
  const int64_t rows = BlasRowsPerTask(g);
  const int64_t tasks = (g.N + rows - 1) / rows;
  ParallelForWork(tasks, rows * g.M * g.K, [&](int64_t t) {
    F32BlasRows(g, w, g.ldw, t * rows, std::min(g.N, (t + 1) * rows));
  });
}

// BF16 prefill: each task widens a panel of weight rows to F32 and multiplies it by sgemm.
void Bf16PanelBlas(const GemmArgs& g) {
  const uint16_t* w = static_cast<const uint16_t*>(g.w);
  const int64_t rows = BlasRowsPerTask(g);
  const int64_t tasks = (g.N + rows - 1) / rows;
  ParallelForWork(tasks, rows * g.M * g.K, [&](int64_t t) {
    thread_local std::vector<float> panel;
    const int64_t n0 = t * rows;
    const int64_t count = std::min(rows, g.N - n0);
    panel.resize(static_cast<size_t>(count * g.K));
    cpu::Convert(Mat(const_cast<uint16_t*>(w + n0 * g.ldw), DType::kBF16, count, g.K, g.ldw),
                 MatF32(panel.data(), count, g.K));
    GemmArgs part = g;
    part.y = g.y + n0;
    F32BlasRows(part, panel.data(), g.K, 0, count);
  });
}
#endif

}  // namespace

void Gemm(const TensorView& x, const TensorView& w, const TensorView& y, bool accumulate) {
  const GemmArgs g{x.ptr<const float>(), x.ld(), w.data, w.ld(), y.ptr<float>(), y.ld(),
                   x.rows(), w.rows(), x.cols(), accumulate};
  if (g.K == 0) {  // empty sum
    if (!accumulate) {
      for (int64_t m = 0; m < g.M; ++m) std::fill_n(g.y + m * g.ldy, g.N, 0.0f);
    }
    return;
  }
  const bool avx2 = HasAvx2Fma();
  if (w.dtype == DType::kF32) {
    // Small batches (decode) stream the weights once through the tiled kernel (one pass for up
    // to 8 rows of x); larger ones go to sgemm.
#ifdef GF_HAVE_OPENBLAS
    if (!avx2 || g.M > kSmallM) {
      F32Blas(g);
      return;
    }
#endif
    if (avx2) {
      F32Tiled(g);
    } else {
      ScalarParallel<float>(g);
    }
    return;
  }
#ifdef GF_HAVE_OPENBLAS
  if (g.M > kSmallM) {
    Bf16PanelBlas(g);
    return;
  }
#endif
  if (avx2) {
    Bf16Streaming(g);
  } else {
    ScalarParallel<uint16_t>(g);
  }
}

}  // namespace gf::kernels::cpu
