// CPU RWKV-6 WKV (u = 0): the step recurrence and a chunk-parallel (matrix) form.
//
// Per head, with decay a_t[j] = exp(-exp(w_hat[t,j])) and state S[i][j] (value i, key j):
//   y_t[i] = sum_j r_t[j] S_{t-1}[i][j],   S_t[i][j] = a_t[j] S_{t-1}[i][j] + k_t[j] v_t[i].
// The chunked form splits T into chunks of kChunk tokens and each chunk into sub-chunks of
// kSubChunk. Inside a chunk starting from state S0:
//   y_t = (r_t * P_t) S0^T + sum_{tau<t} A[t][tau] v_tau,   P_t[j] = prod_{s<t} a_s[j],
//   A[t][tau] = sum_j r_t[j] k_tau[j] prod_{s=tau+1}^{t-1} a_s[j].
// For tau and t in different sub-chunks the decay product is split at b, the last token of tau's
// sub-chunk: prod_{tau<s<=b} (folded into k) times prod_{b<s<t} (folded into r). Both factors are
// products of decays, so they lie in [0, 1]: nothing can overflow however strong the decay.
// Within a sub-chunk A is built by a running product. Chunks shorter than one sub-chunk (short
// calls, the tail of long ones) use the step form. Decay products are formed by multiplying
// decays (never by exponentiating differences of cumulative sums), so no cancellation occurs.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec_ops.h"
#include "kernels/thread_pool.h"

namespace gf::kernels::cpu {
namespace {

constexpr int64_t kChunk = 64;
constexpr int64_t kSubChunk = 16;

// The views of one WKV call, split per head.
struct WkvArgs {
  const TensorView* r;
  const TensorView* k;
  const TensorView* v;
  const TensorView* w_hat;
  const TensorView* y;
  float* state;
  int64_t N;
};

// Step form over tokens [t_begin, t_end) of head h.
template <typename Ops>
GF_INLINE void SequentialSteps(const WkvArgs& a, int64_t h, int64_t t_begin, int64_t t_end) {
  const int64_t N = a.N;
  const int64_t off = h * N;
  float* S = a.state + h * N * N;
  thread_local std::vector<float> decay;
  decay.resize(static_cast<size_t>(N));
  for (int64_t t = t_begin; t < t_end; ++t) {
    const float* rt = a.r->row_ptr<const float>(t) + off;
    const float* kt = a.k->row_ptr<const float>(t) + off;
    const float* vt = a.v->row_ptr<const float>(t) + off;
    float* yt = a.y->row_ptr<float>(t) + off;
    Ops::Decay(decay.data(), a.w_hat->row_ptr<const float>(t) + off, N);
    for (int64_t i = 0; i < N; ++i) yt[i] = Ops::WkvRow(S + i * N, rt, decay.data(), kt, vt[i], N);
  }
}

// Scratch of one chunk of one head, all [kChunk][N] row-major.
struct ChunkScratch {
  std::vector<float> r, k, v, d;   // inputs and decays of the chunk
  std::vector<float> prefix;       // prefix[t] = prod_{s<t} d_s (decay since chunk start)
  std::vector<float> k_sub_end;    // k_tau * prod_{tau<s<=end of tau's sub-chunk} d_s
  std::vector<float> k_chunk_end;  // k_tau * prod_{tau<s<L} d_s
  std::vector<float> sub_total;    // per sub-chunk: prod of its decays [kChunk/kSubChunk][N]
  std::vector<float> r_scaled;     // [kSubChunk][N]
  std::vector<float> between;      // [N]
  std::vector<float> running;      // [N]
  std::vector<float> attn;         // [kChunk][kChunk], strictly lower triangular
  std::vector<float> k_sub_end_t;  // k_sub_end transposed, [N][kChunk]
  std::vector<float> r_prefixed;   // r_t * prefix[t]
  std::vector<float> state_t;      // the head's state transposed, [key j][value i]

  void Resize(int64_t N) {
    const auto block = static_cast<size_t>(kChunk * N);
    for (auto* b : {&r, &k, &v, &d, &prefix, &k_sub_end, &k_chunk_end, &k_sub_end_t, &r_prefixed}) {
      b->resize(block);
    }
    state_t.resize(static_cast<size_t>(N * N));
    sub_total.resize(static_cast<size_t>((kChunk / kSubChunk) * N));
    r_scaled.resize(static_cast<size_t>(kSubChunk * N));
    between.resize(static_cast<size_t>(N));
    running.resize(static_cast<size_t>(N));
    attn.resize(static_cast<size_t>(kChunk * kChunk));
  }
};

// Processes tokens [t0, t0 + L) of head h, updating the head's state S.
template <typename Ops>
GF_INLINE void ChunkOfHead(const WkvArgs& a, int64_t h, int64_t t0, int64_t L, ChunkScratch& s) {
  const int64_t N = a.N;
  const int64_t off = h * N;
  float* S = a.state + h * N * N;
  auto row = [N](std::vector<float>& buf, int64_t i) { return buf.data() + i * N; };
  float* running = s.running.data();
  float* between = s.between.data();

  // Gather the chunk's inputs and decays.
  for (int64_t t = 0; t < L; ++t) {
    std::copy_n(a.r->row_ptr<const float>(t0 + t) + off, N, row(s.r, t));
    std::copy_n(a.k->row_ptr<const float>(t0 + t) + off, N, row(s.k, t));
    std::copy_n(a.v->row_ptr<const float>(t0 + t) + off, N, row(s.v, t));
    Ops::Decay(row(s.d, t), a.w_hat->row_ptr<const float>(t0 + t) + off, N);
  }

  // prefix[t] = prod_{s<t} d_s.
  std::fill_n(row(s.prefix, 0), N, 1.0f);
  for (int64_t t = 1; t < L; ++t) Ops::Mul(row(s.prefix, t), row(s.prefix, t - 1), row(s.d, t - 1), N);
  // Per sub-chunk m: k_sub_end[tau] = k_tau * prod_{tau<s<end(m)} d_s and sub_total[m].
  const int64_t num_sub = (L + kSubChunk - 1) / kSubChunk;
  for (int64_t m = 0; m < num_sub; ++m) {
    const int64_t begin = m * kSubChunk;
    const int64_t end = std::min(L, begin + kSubChunk);
    float* total = row(s.sub_total, m);
    std::fill_n(total, N, 1.0f);
    for (int64_t tau = end - 1; tau >= begin; --tau) {
      Ops::Mul(row(s.k_sub_end, tau), row(s.k, tau), total, N);
      Ops::Mul(total, total, row(s.d, tau), N);
    }
  }
  // k_chunk_end[tau] = k_tau * prod_{tau<s<L} d_s.
  std::fill_n(running, N, 1.0f);
  for (int64_t tau = L - 1; tau >= 0; --tau) {
    Ops::Mul(row(s.k_chunk_end, tau), row(s.k, tau), running, N);
    Ops::Mul(running, running, row(s.d, tau), N);
  }

  // Intra-chunk scores A[t][tau] for tau < t; the rest of the matrix stays zero.
  std::fill(s.attn.begin(), s.attn.end(), 0.0f);
  Ops::Transpose(L, N, s.k_sub_end.data(), N, s.k_sub_end_t.data(), kChunk);
  auto A = [&s](int64_t t, int64_t tau) -> float& {
    return s.attn[static_cast<size_t>(t * kChunk + tau)];
  };
  for (int64_t q = 0; q < num_sub; ++q) {
    const int64_t q0 = q * kSubChunk;
    const int64_t q1 = std::min(L, q0 + kSubChunk);
    // Diagonal block: a running product along t.
    for (int64_t tau = q0; tau < q1; ++tau) {
      std::copy_n(row(s.k, tau), N, running);
      for (int64_t t = tau + 1; t < q1; ++t) {
        A(t, tau) = Ops::Dot(row(s.r, t), running, N);
        Ops::Mul(running, running, row(s.d, t), N);
      }
    }
    // Blocks against every earlier sub-chunk p, nearest first; `between` is the decay over the
    // sub-chunks strictly between p and q.
    std::fill_n(between, N, 1.0f);
    for (int64_t p = q - 1; p >= 0; --p) {
      const int64_t p0 = p * kSubChunk;
      // r_scaled[t] = r_t * between * prod_{q0<=s<t} d_s  (= r_t * prod_{end(p)<=s<t} d_s).
      std::copy_n(between, N, running);
      for (int64_t t = q0; t < q1; ++t) {
        float* rs = s.r_scaled.data() + (t - q0) * N;
        Ops::Mul(rs, row(s.r, t), running, N);
        Ops::Mul(running, running, row(s.d, t), N);
      }
      Ops::MatMulAcc(q1 - q0, kSubChunk, N, s.r_scaled.data(), N, 1, s.k_sub_end_t.data() + p0,
                     kChunk, &A(q0, p0), kChunk);
      Ops::Mul(between, between, row(s.sub_total, p), N);
    }
  }

  // y_t[i] = sum_j r_t[j] prefix_t[j] S0[i][j] + sum_{tau<t} A[t][tau] v_tau[i], as two matrix
  // products accumulated straight into the output rows.
  float* y0 = a.y->row_ptr<float>(t0) + off;
  const int64_t ldy = a.y->ld();
  for (int64_t t = 0; t < L; ++t) {
    std::fill_n(y0 + t * ldy, N, 0.0f);
    Ops::Mul(row(s.r_prefixed, t), row(s.r, t), row(s.prefix, t), N);
  }
  Ops::Transpose(N, N, S, N, s.state_t.data(), N);
  Ops::MatMulAcc(L, N, N, s.r_prefixed.data(), N, 1, s.state_t.data(), N, y0, ldy);
  Ops::MatMulAcc(L, N, L, s.attn.data(), kChunk, 1, s.v.data(), N, y0, ldy);

  // S[i][j] = S[i][j] * prod_{s<L} d_s[j] + sum_tau v_tau[i] k_chunk_end[tau][j].
  Ops::Mul(running, row(s.prefix, L - 1), row(s.d, L - 1), N);
  for (int64_t i = 0; i < N; ++i) Ops::Mul(S + i * N, S + i * N, running, N);
  Ops::MatMulAcc(N, N, L, s.v.data(), 1, N, s.k_chunk_end.data(), N, S, N);
}

template <typename Ops>
GF_INLINE void ChunkedHead(const WkvArgs& a, int64_t h) {
  thread_local ChunkScratch scratch;
  scratch.Resize(a.N);
  const int64_t T = a.r->rows();
  for (int64_t t0 = 0; t0 < T; t0 += kChunk) {
    const int64_t L = std::min(kChunk, T - t0);
    if (L < kSubChunk) {
      SequentialSteps<Ops>(a, h, t0, t0 + L);  // too short for the matrix form to pay off
    } else {
      ChunkOfHead<Ops>(a, h, t0, L, scratch);
    }
  }
}

GF_TARGET_AVX2 void SequentialHeadAvx2(const WkvArgs& a, int64_t h) {
  SequentialSteps<Avx2Ops>(a, h, 0, a.r->rows());
}
void SequentialHeadScalar(const WkvArgs& a, int64_t h) {
  SequentialSteps<ScalarOps>(a, h, 0, a.r->rows());
}
GF_TARGET_AVX2 void ChunkedHeadAvx2(const WkvArgs& a, int64_t h) { ChunkedHead<Avx2Ops>(a, h); }
void ChunkedHeadScalar(const WkvArgs& a, int64_t h) { ChunkedHead<ScalarOps>(a, h); }

}  // namespace

void Wkv6Sequential(const TensorView& r, const TensorView& k, const TensorView& v,
                    const TensorView& w_hat, const TensorView& state, const TensorView& y,
                    int head_size) {
  const WkvArgs args{&r, &k, &v, &w_hat, &y, state.ptr<float>(), head_size};
  const bool avx2 = HasAvx2Fma();
  const int64_t per_head = 2 * r.rows() * head_size * head_size;
  ParallelForWork(r.cols() / head_size, per_head, [&args, avx2](int64_t h) {
    avx2 ? SequentialHeadAvx2(args, h) : SequentialHeadScalar(args, h);
  });
}

void Wkv6Chunked(const TensorView& r, const TensorView& k, const TensorView& v,
                 const TensorView& w_hat, const TensorView& state, const TensorView& y,
                 int head_size) {
  const WkvArgs args{&r, &k, &v, &w_hat, &y, state.ptr<float>(), head_size};
  const bool avx2 = HasAvx2Fma();
  const int64_t per_head = 2 * r.rows() * head_size * head_size;
  ParallelForWork(r.cols() / head_size, per_head, [&args, avx2](int64_t h) {
    avx2 ? ChunkedHeadAvx2(args, h) : ChunkedHeadScalar(args, h);
  });
}

}  // namespace gf::kernels::cpu
