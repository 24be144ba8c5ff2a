// Machine limits measured in the running process, the yardsticks `goldfinch bench` compares
// the engine against.
//
// MeasureRoofline runs, with the kernel thread count (kernels::NumThreads()):
//  - read bandwidth: a streaming sum over a buffer much larger than the caches, all threads
//    (ParallelFor over many slices) and the calling thread alone; best pass of `repeats` after
//    one warm-up pass that also faults the pages in;
//  - FP32 FMA peak: a register-resident loop of independent 8-wide FMAs (AVX2+FMA, chosen at run
//    time; a scalar loop of 8 independent chains otherwise), one thread and all threads;
//  - achieved GEMM FLOP/s of kernels::Gemm for y[M,N] = x[M,K] w[N,K]^T at M = N = K =
//    `gemm_size` with F32 and with BF16 weights (2*M*N*K FLOPs per call).
// Every number is the best of `repeats` timed runs (std::chrono::steady_clock) after a warm-up.
// Units: bytes/s and FLOP/s. Errors: InvalidArgument on bad options, ResourceExhausted when the
// buffer cannot be allocated, kernel errors passed through. Thread-safety: uses the global
// kernel thread pool; call from the engine thread with nothing else running.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"

namespace gf::cli {

struct RooflineOptions {
  size_t bandwidth_bytes = size_t{1} << 30;  // streaming buffer (>> last-level cache)
  int64_t gemm_size = 1024;                  // M = N = K of the GEMM probes
  int repeats = 5;                           // timed runs per probe (best is kept)
};

struct Roofline {
  int threads = 1;
  bool avx2_fma = false;            // the FMA probe used AVX2+FMA
  double read_bw = 0;               // bytes/s, all threads
  double read_bw_1t = 0;            // bytes/s, one thread
  double fma_peak = 0;              // FLOP/s, all threads
  double fma_peak_1t = 0;           // FLOP/s, one thread
  double gemm_f32 = 0;              // FLOP/s of kernels::Gemm, F32 weights
  double gemm_bf16 = 0;             // FLOP/s of kernels::Gemm, BF16 weights
  int64_t gemm_size = 0;
  size_t bandwidth_bytes = 0;
};

StatusOr<Roofline> MeasureRoofline(const RooflineOptions& options = {});

}  // namespace gf::cli
