#include "cli/roofline.h"

#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/thread_pool.h"

namespace gf::cli {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Keeps results observable so the probes cannot be optimised away.
volatile double g_sink = 0;

bool HaveAvx2Fma() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// ---- read bandwidth ---------------------------------------------------------------------------

constexpr int64_t kSliceFloats = int64_t{1} << 18;  // 1 MiB per parallel slice

__attribute__((target("avx2,fma"))) double SumAvx2(const float* p, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  double s = 0;
  for (float v : lanes) s += static_cast<double>(v);
  for (; i < n; ++i) s += static_cast<double>(p[i]);
  return s;
}

double SumScalar(const float* p, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += p[i + j];
  }
  double s = 0;
  for (float v : acc) s += static_cast<double>(v);
  for (; i < n; ++i) s += static_cast<double>(p[i]);
  return s;
}

double Sum(const float* p, int64_t n, bool avx2) { return avx2 ? SumAvx2(p, n) : SumScalar(p, n); }

// An anonymous mapping of `floats` floats (huge pages advised), freed by the owner.
StatusOr<std::shared_ptr<float>> MapFloats(int64_t floats) {
  const size_t bytes = static_cast<size_t>(floats) * sizeof(float);
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return ResourceExhausted("cannot map " + std::to_string(bytes) + " bytes for the bandwidth probe");
  }
#ifdef MADV_HUGEPAGE
  ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return std::shared_ptr<float>(static_cast<float*>(p), [bytes](float* q) { ::munmap(q, bytes); });
}

// Best (bytes/s) of `repeats` full passes over buf, all threads and one thread.
void MeasureBandwidth(const float* buf, int64_t n, int repeats, bool avx2, double* all, double* one) {
  const int64_t slices = (n + kSliceFloats - 1) / kSliceFloats;
  std::vector<double> partial(static_cast<size_t>(slices));
  const double bytes = static_cast<double>(n) * sizeof(float);
  auto parallel_pass = [&] {
    kernels::ParallelFor(slices, [&](int64_t s) {
      const int64_t begin = s * kSliceFloats;
      partial[static_cast<size_t>(s)] = Sum(buf + begin, std::min(kSliceFloats, n - begin), avx2);
    });
    double total = 0;
    for (double v : partial) total += v;
    g_sink = g_sink + total;
  };
  parallel_pass();  // warm-up
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    parallel_pass();
    best = std::max(best, bytes / SecondsSince(start));
  }
  *all = best;

  g_sink = g_sink + Sum(buf, n, avx2);  // warm-up
  best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    g_sink = g_sink + Sum(buf, n, avx2);
    best = std::max(best, bytes / SecondsSince(start));
  }
  *one = best;
}

// ---- FMA peak ---------------------------------------------------------------------------------

constexpr int kFmaChains = 12;  // independent accumulators: > latency x FMA ports on current cores

__attribute__((target("avx2,fma"))) double FmaLoopAvx2(int64_t iters, float seed) {
  __m256 acc[kFmaChains];
  for (int j = 0; j < kFmaChains; ++j) acc[j] = _mm256_set1_ps(seed + static_cast<float>(j));
  const __m256 mul = _mm256_set1_ps(0.9999999f);
  const __m256 add = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < kFmaChains; ++j) acc[j] = _mm256_fmadd_ps(acc[j], mul, add);
  }
  __m256 s = acc[0];
  for (int j = 1; j < kFmaChains; ++j) s = _mm256_add_ps(s, acc[j]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  double total = 0;
  for (float v : lanes) total += static_cast<double>(v);
  return total;
}

double FmaLoopScalar(int64_t iters, float seed) {
  float acc[8];
  for (int j = 0; j < 8; ++j) acc[j] = seed + static_cast<float>(j);
  for (int64_t i = 0; i < iters; ++i) {
    for (float& a : acc) a = a * 0.9999999f + 1e-7f;
  }
  double total = 0;
  for (float v : acc) total += static_cast<double>(v);
  return total;
}

double FlopsPerIteration(bool avx2) { return avx2 ? kFmaChains * 8 * 2 : 8 * 2; }

double FmaLoop(int64_t iters, bool avx2) {
  return avx2 ? FmaLoopAvx2(iters, 1.0f) : FmaLoopScalar(iters, 1.0f);
}

// Best FLOP/s of `repeats` runs; `tasks` chunks of `iters` iterations spread over the pool
// (tasks == 1: the calling thread alone).
double MeasureFma(int64_t tasks, int64_t iters, int repeats, bool avx2) {
  std::vector<double> out(static_cast<size_t>(tasks));
  auto run = [&] {
    kernels::ParallelFor(tasks, [&](int64_t t) { out[static_cast<size_t>(t)] = FmaLoop(iters, avx2); });
    for (double v : out) g_sink = g_sink + v;
  };
  run();  // warm-up (also wakes the workers and lets the clock ramp)
  double best = 0;
  const double flops = static_cast<double>(tasks) * static_cast<double>(iters) * FlopsPerIteration(avx2);
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    run();
    best = std::max(best, flops / SecondsSince(start));
  }
  return best;
}

// ---- GEMM -------------------------------------------------------------------------------------

StatusOr<double> MeasureGemm(int64_t size, kernels::DType wtype, int repeats) {
  const auto n = static_cast<size_t>(size * size);
  std::vector<float> x(n), y(n), wf(n);
  std::vector<uint16_t> wb;
  uint64_t state = 0x1234567u;
  for (size_t i = 0; i < n; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = static_cast<float>(static_cast<int64_t>(state >> 40) - (int64_t{1} << 23)) / 8388608.0f;
    wf[i] = x[i] * 0.03f;
  }
  void* wdata = wf.data();
  if (wtype == kernels::DType::kBF16) {
    wb.resize(n);
    for (size_t i = 0; i < n; ++i) wb[i] = kernels::F32ToBf16(wf[i]);
    wdata = wb.data();
  }
  const kernels::TensorView xv = kernels::MatF32(x.data(), size, size);
  const kernels::TensorView wv = kernels::Mat(wdata, wtype, size, size);
  const kernels::TensorView yv = kernels::MatF32(y.data(), size, size);
  GF_RETURN_IF_ERROR(kernels::Gemm(xv, wv, yv));  // warm-up
  const double flops = 2.0 * static_cast<double>(size) * static_cast<double>(size) * static_cast<double>(size);
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    GF_RETURN_IF_ERROR(kernels::Gemm(xv, wv, yv));
    best = std::max(best, flops / SecondsSince(start));
  }
  g_sink = g_sink + static_cast<double>(y[n / 2]);
  return best;
}

}  // namespace

StatusOr<Roofline> MeasureRoofline(const RooflineOptions& options) {
  if (options.repeats < 1) return InvalidArgument("roofline: repeats must be >= 1");
  if (options.gemm_size < 16 || options.gemm_size > 8192) {
    return InvalidArgument("roofline: gemm_size must be in [16, 8192]");
  }
  if (options.bandwidth_bytes < (size_t{1} << 20)) {
    return InvalidArgument("roofline: the bandwidth buffer must be at least 1 MiB");
  }
  Roofline r;
  r.threads = kernels::NumThreads();
  r.avx2_fma = HaveAvx2Fma();
  r.gemm_size = options.gemm_size;
  r.bandwidth_bytes = options.bandwidth_bytes;

  {
    const auto n = static_cast<int64_t>(options.bandwidth_bytes / sizeof(float));
    GF_ASSIGN_OR_RETURN(std::shared_ptr<float> buf, MapFloats(n));
    float* p = buf.get();
    const int64_t slices = (n + kSliceFloats - 1) / kSliceFloats;
    kernels::ParallelFor(slices, [&](int64_t s) {  // faults every page in
      const int64_t begin = s * kSliceFloats;
      const int64_t end = std::min(n, begin + kSliceFloats);
      for (int64_t i = begin; i < end; ++i) p[i] = static_cast<float>(i & 1023) * (1.0f / 1024.0f);
    });
    MeasureBandwidth(p, n, options.repeats, r.avx2_fma, &r.read_bw, &r.read_bw_1t);
  }

  // About 2-5 ms per task on current cores; enough tasks to balance dynamic scheduling.
  const int64_t iters = r.avx2_fma ? int64_t{1} << 18 : int64_t{1} << 20;
  r.fma_peak_1t = MeasureFma(1, iters * 4, options.repeats, r.avx2_fma);
  r.fma_peak = MeasureFma(int64_t{16} * r.threads, iters, options.repeats, r.avx2_fma);

  GF_ASSIGN_OR_RETURN(r.gemm_f32, MeasureGemm(options.gemm_size, kernels::DType::kF32, options.repeats));
  GF_ASSIGN_OR_RETURN(r.gemm_bf16, MeasureGemm(options.gemm_size, kernels::DType::kBF16, options.repeats));
  return r;
}

}  // namespace gf::cli
