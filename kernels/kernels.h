// The kernel API: every numeric op the GoldFinch forward pass needs, on device-agnostic views.
//
// Contract:
//  - Each op validates dtypes, shapes and devices and returns a Status (never aborts on bad
//    arguments). All views of one call must be on the same device; the op dispatches on it.
//    Only Device::kCpu is implemented here; a CUDA backend adds kernels/cuda/ twins.
//  - Unless stated otherwise activations are F32 2-D views [rows, cols] with a row stride
//    (ld) >= cols; outputs may alias inputs only where stated ("in place allowed").
//  - Matrix weights follow the nn.Linear orientation [out, in] and may be F32 or BF16; the
//    engine transposes raw [in, out] LoRA factors at load time so Gemm has one meaning.
//  - Threads: ops may use the kernel thread pool (SetNumThreads) and the BLAS threads; they are
//    not re-entrant across threads of the caller (one engine thread calls them).
//  - Numerics: accumulation, norms, exps, softmax statistics and recurrent states are F32.
#pragma once

#include <cstdint>
#include <span>

#include "common/status.h"
#include "kernels/tensor.h"

namespace gf::kernels {

// Number of threads the kernels (and the BLAS) may use. Default: hardware concurrency.
void SetNumThreads(int n);
int NumThreads();

// ---- dense linear algebra -------------------------------------------------------------------

// y[M,N] = x[M,K] * w[N,K]^T + (accumulate ? y : 0).  x, y: F32; w: F32 or BF16.
Status Gemm(const TensorView& x, const TensorView& w, const TensorView& y, bool accumulate = false);

// ---- normalisation --------------------------------------------------------------------------

// Row-wise LayerNorm with biased variance: y = (x - mean) / sqrt(var + eps) * gamma + beta.
// gamma, beta: F32 [C]. In place allowed (y == x).
Status LayerNorm(const TensorView& x, const TensorView& gamma, const TensorView& beta,
                 const TensorView& y, float eps = 1e-5f);

// Row-wise y = x / (sqrt(mean(x^2)) + eps), no learnable scale (eps added to the RMS).
// In place allowed.
Status RmsNorm(const TensorView& x, const TensorView& y, float eps = 1e-8f);

// ---- token shift ----------------------------------------------------------------------------

// delta[t] = x[t-1] - x[t] for the rows of one sequence, where x[-1] = prev (F32 [C]); an empty
// `prev` (data == nullptr) means a zero row. delta must not alias x.
Status ShiftDelta(const TensorView& x, const TensorView& prev, const TensorView& delta);

// out = x + delta * (mu + m), mu: F32 [C]; m: [rows, C] or empty (treated as 0).
// In place allowed (out == x).
Status ShiftMix(const TensorView& x, const TensorView& delta, const TensorView& mu,
                const TensorView& m, const TensorView& out);

// ---- elementwise (all in place on an F32 2-D view) -------------------------------------------

Status Tanh(const TensorView& x);
Status Sigmoid(const TensorView& x);
Status ReluSquare(const TensorView& x);
// x[r, :] += v for every row r; v: F32 [C].
Status AddRowVector(const TensorView& x, const TensorView& v);
// x += y.
Status Add(const TensorView& x, const TensorView& y);
// x += a * b (elementwise).
Status AddProduct(const TensorView& x, const TensorView& a, const TensorView& b);
// k *= 1 - exp(-exp(w_hat)) (Finch-C2 "one minus w"); both [T, A].
Status DecayKeyScale(const TensorView& k, const TensorView& w_hat);

// ---- recurrences and attention --------------------------------------------------------------

// RWKV-6 WKV with u = 0 over T tokens of ONE sequence, continuing `state`.
//   r, k, v, w_hat: F32 [T, A]; y: F32 [T, A]; state: F32 [H, N, N] laid out [h][value i][key j],
//   updated in place. y[t,h,i] = sum_j r[t,h,j] * S[h,i,j];  then
//   S[h,i,j] = exp(-exp(w_hat[t,h,j])) * S[h,i,j] + k[t,h,j] * v[t,h,i].
// Wkv6Sequential is the step form (the oracle, and the decode path); Wkv6Chunked evaluates the same
// recurrence in a chunk-parallel (matrix) form for prefill. Both give the same result to rounding.
Status Wkv6Sequential(const TensorView& r, const TensorView& k, const TensorView& v,
                      const TensorView& w_hat, const TensorView& state, const TensorView& y,
                      int head_size);
Status Wkv6Chunked(const TensorView& r, const TensorView& k, const TensorView& v,
                   const TensorView& w_hat, const TensorView& state, const TensorView& y,
                   int head_size);

struct RopeParams {
  bool enabled = false;
  double base = 10000.0;
  double rescale = 1.0;
  double rebase = 1.0;
};

// In-place interleaved (GPT-J) rotary on x [T, A] whose row t is at absolute position first_pos+t:
// per head of `head_size` channels, pair (2i, 2i+1) is rotated by theta = pos * w_i with
// w_i = (base*rebase)^(-2i/N) / rescale, computed in F32. No-op when !params.enabled.
Status Rope(const TensorView& x, int64_t first_pos, int head_size, const RopeParams& params);

// Causal softmax attention on absolute positions for ONE sequence.
//   q: F32 [Tq, A], row i at absolute position q_first_pos + i; keys/values: [S, A] (F32 or BF16,
//   row j at absolute position j), S >= q_first_pos + Tq. Query at p attends keys 0..p with scale
//   1/sqrt(head_size). out: F32 [Tq, A], heads concatenated head-major.
Status CausalAttention(const TensorView& q, const TensorView& keys, const TensorView& values,
                       int64_t q_first_pos, const TensorView& out, int head_size);

// ---- gathers and conversions ----------------------------------------------------------------

// out[t, :] = table[ids[t], :] converted to F32; table: F32 or BF16 [V, C]. Ids are checked.
Status EmbeddingGather(const TensorView& table, std::span<const int32_t> ids,
                       const TensorView& out);

// Elementwise dtype conversion between F32, BF16 and F16 views of equal shape (2-D or 1-D).
Status Convert(const TensorView& src, const TensorView& dst);

}  // namespace gf::kernels
