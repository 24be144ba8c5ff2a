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
// Within a sub-chunk A is built by a running product. Decay products are formed by multiplying
// decays (never by exponentiating differences of cumulative sums), so no cancellation occurs.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/thread_pool.h"

namespace gf::kernels::cpu {
namespace {

constexpr int64_t kChunk = 64;
constexpr int64_t kSubChunk = 16;

float Decay(float w_hat) { return std::exp(-std::exp(w_hat)); }

float Dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

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

void SequentialHead(const WkvArgs& a, int64_t h) {
  const int64_t N = a.N;
  const int64_t off = h * N;
  float* S = a.state + h * N * N;
  std::vector<float> decay(static_cast<size_t>(N));
  for (int64_t t = 0; t < a.r->rows(); ++t) {
    const float* rt = a.r->row_ptr<const float>(t) + off;
    const float* kt = a.k->row_ptr<const float>(t) + off;
    const float* vt = a.v->row_ptr<const float>(t) + off;
    const float* wt = a.w_hat->row_ptr<const float>(t) + off;
    float* yt = a.y->row_ptr<float>(t) + off;
    for (int64_t j = 0; j < N; ++j) decay[static_cast<size_t>(j)] = Decay(wt[j]);
    for (int64_t i = 0; i < N; ++i) {
      float* row = S + i * N;
      const float vi = vt[i];
      float acc = 0.0f;
      for (int64_t j = 0; j < N; ++j) {
        acc += rt[j] * row[j];
        row[j] = decay[static_cast<size_t>(j)] * row[j] + kt[j] * vi;
      }
      yt[i] = acc;
    }
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
  std::vector<float> y;            // [kChunk][N]

  explicit ChunkScratch(int64_t N) {
    const auto block = static_cast<size_t>(kChunk * N);
    for (auto* b : {&r, &k, &v, &d, &prefix, &k_sub_end, &k_chunk_end, &y}) b->resize(block);
    sub_total.resize(static_cast<size_t>((kChunk / kSubChunk) * N));
    r_scaled.resize(static_cast<size_t>(kSubChunk * N));
    between.resize(static_cast<size_t>(N));
    running.resize(static_cast<size_t>(N));
    attn.resize(static_cast<size_t>(kChunk * kChunk));
  }
};

// Processes tokens [t0, t0 + L) of head h, updating the head's state S.
void ChunkOfHead(const WkvArgs& a, int64_t h, int64_t t0, int64_t L, ChunkScratch& s) {
  const int64_t N = a.N;
  const int64_t off = h * N;
  float* S = a.state + h * N * N;
  auto at = [N](std::vector<float>& buf, int64_t row) { return buf.data() + row * N; };

  // Gather the chunk's inputs and decays.
  for (int64_t t = 0; t < L; ++t) {
    std::copy_n(a.r->row_ptr<const float>(t0 + t) + off, N, at(s.r, t));
    std::copy_n(a.k->row_ptr<const float>(t0 + t) + off, N, at(s.k, t));
    std::copy_n(a.v->row_ptr<const float>(t0 + t) + off, N, at(s.v, t));
    const float* w = a.w_hat->row_ptr<const float>(t0 + t) + off;
    float* d = at(s.d, t);
    for (int64_t j = 0; j < N; ++j) d[j] = Decay(w[j]);
  }

  // prefix[t] = prod_{s<t} d_s; sub_total[m] = prod over sub-chunk m.
  std::fill_n(at(s.prefix, 0), N, 1.0f);
  for (int64_t t = 1; t < L; ++t) {
    for (int64_t j = 0; j < N; ++j) at(s.prefix, t)[j] = at(s.prefix, t - 1)[j] * at(s.d, t - 1)[j];
  }
  const int64_t num_sub = (L + kSubChunk - 1) / kSubChunk;
  for (int64_t m = 0; m < num_sub; ++m) {
    const int64_t begin = m * kSubChunk;
    const int64_t end = std::min(L, begin + kSubChunk);
    float* total = at(s.sub_total, m);
    std::fill_n(total, N, 1.0f);
    // Backward over the sub-chunk: k_sub_end[tau] = k_tau * prod_{tau<s<end} d_s.
    for (int64_t tau = end - 1; tau >= begin; --tau) {
      for (int64_t j = 0; j < N; ++j) {
        at(s.k_sub_end, tau)[j] = at(s.k, tau)[j] * total[j];
        total[j] *= at(s.d, tau)[j];
      }
    }
  }
  // k_chunk_end[tau] = k_tau * prod_{tau<s<L} d_s.
  std::fill(s.running.begin(), s.running.end(), 1.0f);
  for (int64_t tau = L - 1; tau >= 0; --tau) {
    for (int64_t j = 0; j < N; ++j) {
      at(s.k_chunk_end, tau)[j] = at(s.k, tau)[j] * s.running[static_cast<size_t>(j)];
      s.running[static_cast<size_t>(j)] *= at(s.d, tau)[j];
    }
  }

  // Intra-chunk scores A[t][tau], tau < t.
  std::fill(s.attn.begin(), s.attn.end(), 0.0f);
  auto A = [&s](int64_t t, int64_t tau) -> float& { return s.attn[static_cast<size_t>(t * kChunk + tau)]; };
  for (int64_t q = 0; q < num_sub; ++q) {
    const int64_t q0 = q * kSubChunk;
    const int64_t q1 = std::min(L, q0 + kSubChunk);
    // Diagonal block by a running product along t.
    for (int64_t tau = q0; tau < q1; ++tau) {
      std::copy_n(at(s.k, tau), N, s.running.data());
      for (int64_t t = tau + 1; t < q1; ++t) {
        A(t, tau) = Dot(at(s.r, t), s.running.data(), N);
        for (int64_t j = 0; j < N; ++j) s.running[static_cast<size_t>(j)] *= at(s.d, t)[j];
      }
    }
    // Off-diagonal blocks against every earlier sub-chunk p, nearest first.
    std::fill(s.between.begin(), s.between.end(), 1.0f);  // prod over sub-chunks p+1 .. q-1
    for (int64_t p = q - 1; p >= 0; --p) {
      const int64_t p0 = p * kSubChunk;
      const int64_t p1 = p0 + kSubChunk;
      // r_scaled[t] = r_t * between * prod_{q0<=s<t} d_s  (= r_t * prod_{p1<=s<t} d_s).
      std::copy(s.between.begin(), s.between.end(), s.running.begin());
      for (int64_t t = q0; t < q1; ++t) {
        float* rs = s.r_scaled.data() + (t - q0) * N;
        for (int64_t j = 0; j < N; ++j) rs[j] = at(s.r, t)[j] * s.running[static_cast<size_t>(j)];
        for (int64_t j = 0; j < N; ++j) s.running[static_cast<size_t>(j)] *= at(s.d, t)[j];
      }
      for (int64_t t = q0; t < q1; ++t) {
        for (int64_t tau = p0; tau < p1; ++tau) {
          A(t, tau) = Dot(s.r_scaled.data() + (t - q0) * N, at(s.k_sub_end, tau), N);
        }
      }
      for (int64_t j = 0; j < N; ++j) s.between[static_cast<size_t>(j)] *= at(s.sub_total, p)[j];
    }
  }

  // y_t[i] = sum_j r_t[j] prefix_t[j] S0[i][j] + sum_{tau<t} A[t][tau] v_tau[i].
  for (int64_t t = 0; t < L; ++t) {
    float* yt = at(s.y, t);
    float* rs = s.running.data();
    for (int64_t j = 0; j < N; ++j) rs[j] = at(s.r, t)[j] * at(s.prefix, t)[j];
    for (int64_t i = 0; i < N; ++i) yt[i] = Dot(rs, S + i * N, N);
    for (int64_t tau = 0; tau < t; ++tau) {
      const float w = A(t, tau);
      const float* vt = at(s.v, tau);
      for (int64_t i = 0; i < N; ++i) yt[i] += w * vt[i];
    }
    std::copy_n(yt, N, a.y->row_ptr<float>(t0 + t) + off);
  }

  // S[i][j] = S[i][j] * prod_{s<L} d_s[j] + sum_tau v_tau[i] k_chunk_end[tau][j].
  const float* total = s.running.data();
  for (int64_t j = 0; j < N; ++j) {
    s.running[static_cast<size_t>(j)] = at(s.prefix, L - 1)[j] * at(s.d, L - 1)[j];
  }
  for (int64_t i = 0; i < N; ++i) {
    float* row = S + i * N;
    for (int64_t j = 0; j < N; ++j) row[j] *= total[j];
    for (int64_t tau = 0; tau < L; ++tau) {
      const float vi = at(s.v, tau)[i];
      const float* kt = at(s.k_chunk_end, tau);
      for (int64_t j = 0; j < N; ++j) row[j] += vi * kt[j];
    }
  }
}

}  // namespace

void Wkv6Sequential(const TensorView& r, const TensorView& k, const TensorView& v,
                    const TensorView& w_hat, const TensorView& state, const TensorView& y,
                    int head_size) {
  const WkvArgs args{&r, &k, &v, &w_hat, &y, state.ptr<float>(), head_size};
  const int64_t H = r.cols() / head_size;
  ParallelFor(H, [&args](int64_t h) { SequentialHead(args, h); });
}

void Wkv6Chunked(const TensorView& r, const TensorView& k, const TensorView& v,
                 const TensorView& w_hat, const TensorView& state, const TensorView& y,
                 int head_size) {
  const WkvArgs args{&r, &k, &v, &w_hat, &y, state.ptr<float>(), head_size};
  const int64_t H = r.cols() / head_size;
  const int64_t T = r.rows();
  ParallelFor(H, [&args, T](int64_t h) {
    ChunkScratch scratch(args.N);
    for (int64_t t0 = 0; t0 < T; t0 += kChunk) {
      ChunkOfHead(args, h, t0, std::min(kChunk, T - t0), scratch);
    }
  });
}

}  // namespace gf::kernels::cpu
