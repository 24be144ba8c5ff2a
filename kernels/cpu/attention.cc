// CPU rotary embedding and causal softmax attention (flash style: per head and block of queries,
// keys and values are visited in blocks while an online softmax keeps F32 running statistics).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec_ops.h"
#include "kernels/thread_pool.h"

namespace gf::kernels::cpu {
namespace {

constexpr int64_t kQueryBlock = 32;
constexpr int64_t kKeyBlock = 64;
// Query blocks with at least this many rows compute scores as Q * K^T with a transposed key
// block (register-tiled); smaller ones (decode) use one dot product per key.
constexpr int64_t kTransposedMinRows = 4;

struct AttentionArgs {
  const TensorView* q;
  const TensorView* keys;
  const TensorView* values;
  const TensorView* out;
  int64_t q_first_pos;
  int64_t N;
};

// Per-thread buffers of one (head, query block) task.
struct AttentionScratch {
  std::vector<float> q, acc, k, k_t, v, scores, row_max, row_sum;
  void Resize(int64_t N) {
    q.resize(static_cast<size_t>(kQueryBlock * N));
    acc.resize(static_cast<size_t>(kQueryBlock * N));
    k.resize(static_cast<size_t>(kKeyBlock * N));
    k_t.resize(static_cast<size_t>(kKeyBlock * N));
    v.resize(static_cast<size_t>(kKeyBlock * N));
    scores.resize(static_cast<size_t>(kQueryBlock * kKeyBlock));
    row_max.resize(static_cast<size_t>(kQueryBlock));
    row_sum.resize(static_cast<size_t>(kQueryBlock));
  }
};

// Rows [row0, row0 + count) of head columns [col, col + N) of an F32 or BF16 view as F32: either
// a pointer into the view (F32) or a copy in `buffer` (BF16). Returns the row stride.
template <typename Ops>
GF_INLINE const float* RowsF32(const TensorView& m, int64_t row0, int64_t count, int64_t col,
                               int64_t N, float* buffer, int64_t& ld) {
  if (m.dtype == DType::kF32) {
    ld = m.ld();
    return m.row_ptr<const float>(row0) + col;
  }
  for (int64_t r = 0; r < count; ++r) {
    Ops::Bf16ToF32(buffer + r * N, m.row_ptr<const uint16_t>(row0 + r) + col, N);
  }
  ld = N;
  return buffer;
}

// Queries [q0, q1) of head h.
template <typename Ops>
GF_INLINE void AttendBlock(const AttentionArgs& a, int64_t h, int64_t q0, int64_t q1,
                           AttentionScratch& s) {
  const int64_t N = a.N;
  const int64_t col = h * N;
  const int64_t nq = q1 - q0;
  const float scale = 1.0f / std::sqrt(static_cast<float>(N));
  const float neg_inf = -std::numeric_limits<float>::infinity();
  float* qs = s.q.data();
  float* acc = s.acc.data();
  float* scores = s.scores.data();

  for (int64_t qi = 0; qi < nq; ++qi) {
    const float* src = a.q->row_ptr<const float>(q0 + qi) + col;
    for (int64_t c = 0; c < N; ++c) qs[qi * N + c] = src[c] * scale;
  }
  std::fill_n(acc, nq * N, 0.0f);
  std::fill_n(s.row_max.data(), nq, neg_inf);
  std::fill_n(s.row_sum.data(), nq, 0.0f);

  const int64_t last_key = a.q_first_pos + q1 - 1;  // the last query sees keys 0..last_key
  for (int64_t k0 = 0; k0 <= last_key; k0 += kKeyBlock) {
    const int64_t nk = std::min(kKeyBlock, last_key + 1 - k0);
    int64_t ldk = 0;
    int64_t ldv = 0;
    const float* kb = RowsF32<Ops>(*a.keys, k0, nk, col, N, s.k.data(), ldk);
    const float* vb = RowsF32<Ops>(*a.values, k0, nk, col, N, s.v.data(), ldv);

    // scores[qi][kj] = q_qi . k_kj (q pre-scaled).
    if (nq >= kTransposedMinRows) {
      Ops::Transpose(nk, N, kb, ldk, s.k_t.data(), kKeyBlock);
      for (int64_t qi = 0; qi < nq; ++qi) std::fill_n(scores + qi * kKeyBlock, nk, 0.0f);
      Ops::MatMulAcc(nq, nk, N, qs, N, 1, s.k_t.data(), kKeyBlock, scores, kKeyBlock);
    } else {
      for (int64_t qi = 0; qi < nq; ++qi) {
        for (int64_t kj = 0; kj < nk; ++kj) {
          scores[qi * kKeyBlock + kj] = Ops::Dot(qs + qi * N, kb + kj * ldk, N);
        }
      }
    }

    // Causal mask and online softmax; rows become the probabilities of this block.
    for (int64_t qi = 0; qi < nq; ++qi) {
      float* sc = scores + qi * kKeyBlock;
      const int64_t q_pos = a.q_first_pos + q0 + qi;
      const int64_t visible = std::clamp<int64_t>(q_pos - k0 + 1, 0, nk);  // keys k0 .. q_pos
      const auto qs_i = static_cast<size_t>(qi);
      if (visible == 0) {
        std::fill_n(sc, nk, 0.0f);
        continue;
      }
      const float block_max = *std::max_element(sc, sc + visible);
      const float new_max = std::max(s.row_max[qs_i], block_max);
      const float correction = std::exp(s.row_max[qs_i] - new_max);  // 0 on the first block
      const float block_sum = Ops::ExpShiftSum(sc, new_max, visible);
      std::fill(sc + visible, sc + nk, 0.0f);
      Ops::Scale(acc + qi * N, correction, N);
      s.row_sum[qs_i] = s.row_sum[qs_i] * correction + block_sum;
      s.row_max[qs_i] = new_max;
    }

    // acc += P * V.
    Ops::MatMulAcc(nq, N, nk, scores, kKeyBlock, 1, vb, ldv, acc, N);
  }

  for (int64_t qi = 0; qi < nq; ++qi) {
    float* dst = a.out->row_ptr<float>(q0 + qi) + col;
    const float inv = 1.0f / s.row_sum[static_cast<size_t>(qi)];
    for (int64_t c = 0; c < N; ++c) dst[c] = acc[qi * N + c] * inv;
  }
}

GF_TARGET_AVX2 void AttendBlockAvx2(const AttentionArgs& a, int64_t h, int64_t q0, int64_t q1,
                                    AttentionScratch& s) {
  AttendBlock<Avx2Ops>(a, h, q0, q1, s);
}
void AttendBlockScalar(const AttentionArgs& a, int64_t h, int64_t q0, int64_t q1,
                       AttentionScratch& s) {
  AttendBlock<ScalarOps>(a, h, q0, q1, s);
}

// ---- decode: few queries over many keys -------------------------------------------------------
// For one query row, every head is handled together while the keys and values are streamed row
// by row (contiguous memory), and the key range is split into parts that run in parallel, each
// keeping per-head running max, sum and output (flash-decoding); the parts are merged at the end.
// Per-head passes over a [S, A] cache would read 2 of every 24 cache lines per row instead.

constexpr int64_t kDecodeMaxRows = 4;     // query rows up to which the decode path is used
constexpr int64_t kDecodeKeysPerPart = 512;

struct DecodePart {
  std::vector<float> max, sum, acc;  // [H], [H], [H * N]
};

// One part: keys [j0, j1) for query row `qi` (already scaled, heads concatenated).
template <typename Ops>
GF_INLINE void DecodePartRun(const AttentionArgs& a, const float* q, int64_t j0, int64_t j1,
                             DecodePart& part, std::vector<float>& scores,
                             std::vector<float>& row) {
  const int64_t N = a.N;
  const int64_t A = a.q->cols();
  const int64_t H = A / N;
  const int64_t nk = j1 - j0;
  scores.resize(static_cast<size_t>(H * nk));
  row.resize(static_cast<size_t>(A));
  const bool bf16 = a.keys->dtype == DType::kBF16;
  // scores[h][j] = q_h . k_j,h
  for (int64_t j = 0; j < nk; ++j) {
    const float* k = nullptr;
    if (bf16) {
      Ops::Bf16ToF32(row.data(), a.keys->row_ptr<const uint16_t>(j0 + j), A);
      k = row.data();
    } else {
      k = a.keys->row_ptr<const float>(j0 + j);
    }
    for (int64_t h = 0; h < H; ++h) scores[static_cast<size_t>(h * nk + j)] = Ops::Dot(q + h * N, k + h * N, N);
  }
  part.max.resize(static_cast<size_t>(H));
  part.sum.resize(static_cast<size_t>(H));
  part.acc.assign(static_cast<size_t>(A), 0.0f);
  for (int64_t h = 0; h < H; ++h) {
    float* sc = scores.data() + h * nk;
    const float m = *std::max_element(sc, sc + nk);
    part.max[static_cast<size_t>(h)] = m;
    part.sum[static_cast<size_t>(h)] = Ops::ExpShiftSum(sc, m, nk);
  }
  // acc_h += p_h[j] * v_j,h
  for (int64_t j = 0; j < nk; ++j) {
    const float* v = nullptr;
    if (bf16) {
      Ops::Bf16ToF32(row.data(), a.values->row_ptr<const uint16_t>(j0 + j), A);
      v = row.data();
    } else {
      v = a.values->row_ptr<const float>(j0 + j);
    }
    for (int64_t h = 0; h < H; ++h) {
      Ops::Axpy(part.acc.data() + h * N, scores[static_cast<size_t>(h * nk + j)], v + h * N, N);
    }
  }
}

GF_TARGET_AVX2 void DecodePartAvx2(const AttentionArgs& a, const float* q, int64_t j0, int64_t j1,
                                   DecodePart& part, std::vector<float>& scores,
                                   std::vector<float>& row) {
  DecodePartRun<Avx2Ops>(a, q, j0, j1, part, scores, row);
}
void DecodePartScalar(const AttentionArgs& a, const float* q, int64_t j0, int64_t j1,
                      DecodePart& part, std::vector<float>& scores, std::vector<float>& row) {
  DecodePartRun<ScalarOps>(a, q, j0, j1, part, scores, row);
}

void DecodeAttention(const AttentionArgs& a) {
  const int64_t N = a.N;
  const int64_t A = a.q->cols();
  const int64_t H = A / N;
  const float scale = 1.0f / std::sqrt(static_cast<float>(N));
  const bool avx2 = HasAvx2Fma();
  std::vector<float> q(static_cast<size_t>(A));
  std::vector<DecodePart> parts;
  for (int64_t qi = 0; qi < a.q->rows(); ++qi) {
    const float* src = a.q->row_ptr<const float>(qi);
    for (int64_t c = 0; c < A; ++c) q[static_cast<size_t>(c)] = src[c] * scale;
    const int64_t keys = a.q_first_pos + qi + 1;  // keys 0 .. q_pos
    const int64_t n_parts = std::max<int64_t>(
        1, std::min<int64_t>((keys + kDecodeKeysPerPart - 1) / kDecodeKeysPerPart, 64));
    parts.resize(static_cast<size_t>(n_parts));
    ParallelForWork(n_parts, 4 * (keys / n_parts) * A, [&](int64_t p) {
      thread_local std::vector<float> scores, row;
      const int64_t j0 = keys * p / n_parts;
      const int64_t j1 = keys * (p + 1) / n_parts;
      DecodePart& part = parts[static_cast<size_t>(p)];
      avx2 ? DecodePartAvx2(a, q.data(), j0, j1, part, scores, row)
           : DecodePartScalar(a, q.data(), j0, j1, part, scores, row);
    });
    // Merge: out_h = sum_p exp(m_p - M) acc_p / sum_p exp(m_p - M) l_p.
    float* out = a.out->row_ptr<float>(qi);
    for (int64_t h = 0; h < H; ++h) {
      float m = -std::numeric_limits<float>::infinity();
      for (const DecodePart& part : parts) m = std::max(m, part.max[static_cast<size_t>(h)]);
      float total = 0.0f;
      float* dst = out + h * N;
      std::fill_n(dst, N, 0.0f);
      for (const DecodePart& part : parts) {
        const float w = std::exp(part.max[static_cast<size_t>(h)] - m);
        total += w * part.sum[static_cast<size_t>(h)];
        const float* acc = part.acc.data() + h * N;
        for (int64_t c = 0; c < N; ++c) dst[c] += w * acc[c];
      }
      const float inv = 1.0f / total;
      for (int64_t c = 0; c < N; ++c) dst[c] *= inv;
    }
  }
}

}  // namespace

void Rope(const TensorView& x, int64_t first_pos, int head_size, const RopeParams& params) {
  const int64_t N = head_size;
  const int64_t half = N / 2;
  const auto base = static_cast<float>(params.base * params.rebase);
  const auto rescale = static_cast<float>(params.rescale);
  std::vector<float> freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(N);
    freq[static_cast<size_t>(i)] = 1.0f / std::pow(base, exponent) / rescale;
  }
  std::vector<float> cos_t(static_cast<size_t>(half));
  std::vector<float> sin_t(static_cast<size_t>(half));
  const int64_t heads = x.cols() / N;
  for (int64_t t = 0; t < x.rows(); ++t) {
    const auto pos = static_cast<float>(first_pos + t);
    for (int64_t i = 0; i < half; ++i) {
      const float theta = pos * freq[static_cast<size_t>(i)];
      cos_t[static_cast<size_t>(i)] = std::cos(theta);
      sin_t[static_cast<size_t>(i)] = std::sin(theta);
    }
    float* row = x.row_ptr<float>(t);
    for (int64_t h = 0; h < heads; ++h) {
      float* head = row + h * N;
      for (int64_t i = 0; i < half; ++i) {
        const float a = head[2 * i];
        const float b = head[2 * i + 1];
        const float c = cos_t[static_cast<size_t>(i)];
        const float sn = sin_t[static_cast<size_t>(i)];
        head[2 * i] = a * c - b * sn;
        head[2 * i + 1] = a * sn + b * c;
      }
    }
  }
}

void CausalAttention(const TensorView& q, const TensorView& keys, const TensorView& values,
                     int64_t q_first_pos, const TensorView& out, int head_size) {
  const AttentionArgs args{&q, &keys, &values, &out, q_first_pos, head_size};
  if (q.rows() <= kDecodeMaxRows) {
    DecodeAttention(args);
    return;
  }
  const int64_t H = q.cols() / head_size;
  const int64_t Tq = q.rows();
  const int64_t blocks = (Tq + kQueryBlock - 1) / kQueryBlock;
  const bool avx2 = HasAvx2Fma();
  const int64_t work_per_task = 4 * std::min(Tq, kQueryBlock) * (q_first_pos + Tq) * head_size;
  ParallelForWork(H * blocks, work_per_task, [&args, blocks, Tq, avx2](int64_t task) {
    thread_local AttentionScratch scratch;
    scratch.Resize(args.N);
    const int64_t h = task / blocks;
    const int64_t q0 = (task % blocks) * kQueryBlock;
    const int64_t q1 = std::min(Tq, q0 + kQueryBlock);
    avx2 ? AttendBlockAvx2(args, h, q0, q1, scratch) : AttendBlockScalar(args, h, q0, q1, scratch);
  });
}

}  // namespace gf::kernels::cpu
