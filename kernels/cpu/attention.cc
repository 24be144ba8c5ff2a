// CPU rotary embedding and causal softmax attention (flash style: per head and block of queries,
// keys and values are visited in blocks while an online softmax keeps F32 running statistics).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/thread_pool.h"

namespace gf::kernels::cpu {
namespace {

constexpr int64_t kQueryBlock = 16;
constexpr int64_t kKeyBlock = 64;

// Copies `count` channels of row `row` of an F32 or BF16 view, starting at `col`, as F32.
void LoadRowF32(const TensorView& m, int64_t row, int64_t col, int64_t count, float* out) {
  if (m.dtype == DType::kF32) {
    std::copy_n(m.row_ptr<const float>(row) + col, count, out);
  } else {
    const uint16_t* src = m.row_ptr<const uint16_t>(row) + col;
    for (int64_t i = 0; i < count; ++i) out[i] = Bf16ToF32(src[i]);
  }
}

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
  std::vector<float> q, acc, k, v, scores, row_max, row_sum;
  void Resize(int64_t N) {
    q.resize(static_cast<size_t>(kQueryBlock * N));
    acc.resize(static_cast<size_t>(kQueryBlock * N));
    k.resize(static_cast<size_t>(kKeyBlock * N));
    v.resize(static_cast<size_t>(kKeyBlock * N));
    scores.resize(static_cast<size_t>(kQueryBlock * kKeyBlock));
    row_max.resize(static_cast<size_t>(kQueryBlock));
    row_sum.resize(static_cast<size_t>(kQueryBlock));
  }
};

// Queries [q0, q1) of head h.
void AttendBlock(const AttentionArgs& a, int64_t h, int64_t q0, int64_t q1, AttentionScratch& s) {
  const int64_t N = a.N;
  const int64_t col = h * N;
  const int64_t nq = q1 - q0;
  const float scale = 1.0f / std::sqrt(static_cast<float>(N));
  const float neg_inf = -std::numeric_limits<float>::infinity();

  for (int64_t qi = 0; qi < nq; ++qi) {
    const float* src = a.q->row_ptr<const float>(q0 + qi) + col;
    for (int64_t c = 0; c < N; ++c) s.q[static_cast<size_t>(qi * N + c)] = src[c] * scale;
  }
  std::fill(s.acc.begin(), s.acc.end(), 0.0f);
  std::fill(s.row_max.begin(), s.row_max.end(), neg_inf);
  std::fill(s.row_sum.begin(), s.row_sum.end(), 0.0f);

  const int64_t last_key = a.q_first_pos + q1 - 1;  // the last query sees keys 0..last_key
  for (int64_t k0 = 0; k0 <= last_key; k0 += kKeyBlock) {
    const int64_t nk = std::min(kKeyBlock, last_key + 1 - k0);
    for (int64_t kj = 0; kj < nk; ++kj) {
      LoadRowF32(*a.keys, k0 + kj, col, N, s.k.data() + kj * N);
      LoadRowF32(*a.values, k0 + kj, col, N, s.v.data() + kj * N);
    }
    for (int64_t qi = 0; qi < nq; ++qi) {
      const int64_t q_pos = a.q_first_pos + q0 + qi;
      const int64_t visible = std::min(nk, q_pos - k0 + 1);  // keys k0 .. q_pos
      if (visible <= 0) continue;
      const float* qrow = s.q.data() + qi * N;
      float* sc = s.scores.data() + qi * kKeyBlock;
      float block_max = neg_inf;
      for (int64_t kj = 0; kj < visible; ++kj) {
        const float* krow = s.k.data() + kj * N;
        float dot = 0.0f;
        for (int64_t c = 0; c < N; ++c) dot += qrow[c] * krow[c];
        sc[kj] = dot;
        block_max = std::max(block_max, dot);
      }
      const auto qs = static_cast<size_t>(qi);
      const float new_max = std::max(s.row_max[qs], block_max);
      const float correction = std::exp(s.row_max[qs] - new_max);  // 0 on the first block
      float* acc = s.acc.data() + qi * N;
      for (int64_t c = 0; c < N; ++c) acc[c] *= correction;
      float block_sum = 0.0f;
      for (int64_t kj = 0; kj < visible; ++kj) {
        const float p = std::exp(sc[kj] - new_max);
        block_sum += p;
        const float* vrow = s.v.data() + kj * N;
        for (int64_t c = 0; c < N; ++c) acc[c] += p * vrow[c];
      }
      s.row_sum[qs] = s.row_sum[qs] * correction + block_sum;
      s.row_max[qs] = new_max;
    }
  }

  for (int64_t qi = 0; qi < nq; ++qi) {
    float* dst = a.out->row_ptr<float>(q0 + qi) + col;
    const float inv = 1.0f / s.row_sum[static_cast<size_t>(qi)];
    const float* acc = s.acc.data() + qi * N;
    for (int64_t c = 0; c < N; ++c) dst[c] = acc[c] * inv;
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
  const int64_t H = q.cols() / head_size;
  const int64_t Tq = q.rows();
  const int64_t blocks = (Tq + kQueryBlock - 1) / kQueryBlock;
  ParallelFor(H * blocks, [&args, blocks, Tq](int64_t task) {
    thread_local AttentionScratch scratch;
    scratch.Resize(args.N);
    const int64_t h = task / blocks;
    const int64_t q0 = (task % blocks) * kQueryBlock;
    AttendBlock(args, h, q0, std::min(Tq, q0 + kQueryBlock), scratch);
  });
}

}  // namespace gf::kernels::cpu
