// Tests of CausalAttention (against a naive double-precision softmax on absolute positions: full
// prefill, continuation chunks with q_first_pos > 0, single-token decode, BF16 keys/values,
// padded views) and of the interleaved rotary embedding, plus argument validation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/kernels.h"

namespace gf::kernels {
namespace {

double D(float f) { return static_cast<double>(f); }

std::vector<float> Random(size_t n, std::mt19937& rng, float scale) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

struct AttentionCase {
  int64_t Tq, S, q_first_pos, N, H;
  bool bf16_kv;
  int64_t pad;
};

void RunAttentionCase(const AttentionCase& c, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "Tq=" << c.Tq << " S=" << c.S << " p0=" << c.q_first_pos
                                  << " N=" << c.N << " H=" << c.H << " bf16=" << c.bf16_kv);
  std::mt19937 rng(seed);
  const int64_t A = c.H * c.N, ld = A + c.pad;
  // Large enough logits (|q.k| up to ~N*scale^2 / sqrt(N)) to make the softmax peaky.
  std::vector<float> q = Random(static_cast<size_t>(c.Tq * ld), rng, 2.0f);
  std::vector<float> kf = Random(static_cast<size_t>(c.S * ld), rng, 2.0f);
  std::vector<float> vf = Random(static_cast<size_t>(c.S * ld), rng, 1.0f);
  std::vector<uint16_t> kb(kf.size()), vb(vf.size());
  if (c.bf16_kv) {
    for (size_t i = 0; i < kf.size(); ++i) {
      kb[i] = F32ToBf16(kf[i]);
      kf[i] = Bf16ToF32(kb[i]);
      vb[i] = F32ToBf16(vf[i]);
      vf[i] = Bf16ToF32(vb[i]);
    }
  }
  const TensorView keys = c.bf16_kv ? Mat(kb.data(), DType::kBF16, c.S, A, ld) : MatF32(kf.data(), c.S, A, ld);
  const TensorView values = c.bf16_kv ? Mat(vb.data(), DType::kBF16, c.S, A, ld) : MatF32(vf.data(), c.S, A, ld);
  std::vector<float> out(static_cast<size_t>(c.Tq * ld), 999.0f);
  ASSERT_TRUE(CausalAttention(MatF32(q.data(), c.Tq, A, ld), keys, values, c.q_first_pos,
                              MatF32(out.data(), c.Tq, A, ld), static_cast<int>(c.N)).ok());
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.N));
  for (int64_t i = 0; i < c.Tq; ++i) {
    const int64_t p = c.q_first_pos + i;
    for (int64_t h = 0; h < c.H; ++h) {
      std::vector<double> logits(static_cast<size_t>(p + 1));
      double max_logit = -1e300;
      for (int64_t j = 0; j <= p; ++j) {
        double dot = 0.0;
        for (int64_t d = 0; d < c.N; ++d) {
          dot += D(q[static_cast<size_t>(i * ld + h * c.N + d)]) * D(kf[static_cast<size_t>(j * ld + h * c.N + d)]);
        }
        logits[static_cast<size_t>(j)] = dot * scale;
        max_logit = std::max(max_logit, dot * scale);
      }
      double denom = 0.0;
      for (double& l : logits) {
        l = std::exp(l - max_logit);
        denom += l;
      }
      for (int64_t d = 0; d < c.N; ++d) {
        double o = 0.0;
        for (int64_t j = 0; j <= p; ++j) o += logits[static_cast<size_t>(j)] * D(vf[static_cast<size_t>(j * ld + h * c.N + d)]);
        o /= denom;
        ASSERT_NEAR(out[static_cast<size_t>(i * ld + h * c.N + d)], o, 2e-5) << "i=" << i << " h=" << h << " d=" << d;
      }
    }
    for (int64_t x = A; x < ld; ++x) ASSERT_EQ(out[static_cast<size_t>(i * ld + x)], 999.0f);
  }
}

TEST(AttentionTest, PrefillFromPositionZero) {
  RunAttentionCase({9, 9, 0, 16, 2, false, 0}, 1);
  RunAttentionCase({150, 150, 0, 64, 2, false, 3}, 2);  // several query and key blocks
}

TEST(AttentionTest, ContinuationChunkUsesAbsolutePositions) {
  RunAttentionCase({7, 20, 13, 16, 3, false, 0}, 3);
  RunAttentionCase({40, 170, 130, 32, 2, false, 2}, 4);
  // Keys beyond the last query position exist but must be ignored.
  RunAttentionCase({5, 30, 10, 16, 1, false, 0}, 5);
}

TEST(AttentionTest, SingleTokenDecode) {
  RunAttentionCase({1, 1, 0, 64, 2, false, 0}, 6);
  RunAttentionCase({1, 300, 299, 64, 3, false, 1}, 7);
  RunAttentionCase({1, 300, 120, 16, 2, false, 0}, 8);
}

TEST(AttentionTest, Bf16KeysAndValues) {
  RunAttentionCase({6, 80, 74, 32, 2, true, 0}, 9);
  RunAttentionCase({1, 200, 199, 64, 2, true, 4}, 10);
  RunAttentionCase({70, 70, 0, 16, 1, true, 0}, 11);
}

TEST(AttentionTest, ScalarPath) {
  cpu::ForceScalarForTesting(true);
  RunAttentionCase({40, 170, 130, 32, 2, false, 2}, 12);
  RunAttentionCase({1, 90, 89, 16, 2, true, 0}, 13);
  RunAttentionCase({70, 70, 0, 16, 1, true, 0}, 14);
  cpu::ForceScalarForTesting(false);
}

TEST(AttentionTest, RejectsBadArguments) {
  std::vector<float> q(4 * 16), k(10 * 16), v(10 * 16), o(4 * 16);
  const TensorView qv = MatF32(q.data(), 4, 16), kv = MatF32(k.data(), 10, 16), vv = MatF32(v.data(), 10, 16);
  const TensorView ov = MatF32(o.data(), 4, 16);
  EXPECT_TRUE(CausalAttention(qv, kv, vv, 6, ov, 8).ok());
  EXPECT_EQ(CausalAttention(qv, kv, vv, 7, ov, 8).code(), StatusCode::kInvalidArgument);  // S too short
  EXPECT_EQ(CausalAttention(qv, kv, vv, -1, ov, 8).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CausalAttention(qv, kv, vv, 0, ov, 5).code(), StatusCode::kInvalidArgument);  // head size
  EXPECT_EQ(CausalAttention(qv, kv, MatF32(v.data(), 9, 16), 0, ov, 8).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CausalAttention(qv, kv, vv, 0, MatF32(o.data(), 4, 15), 8).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CausalAttention(qv, kv, vv, 0, qv, 8).code(), StatusCode::kInvalidArgument);  // out aliases q
  EXPECT_EQ(CausalAttention(qv, Mat(k.data(), DType::kF16, 10, 16), vv, 0, ov, 8).code(),
            StatusCode::kInvalidArgument);
  const TensorView qc = Mat(q.data(), DType::kF32, 4, 16, -1, Device::kCuda);
  const TensorView kc = Mat(k.data(), DType::kF32, 10, 16, -1, Device::kCuda);
  const TensorView vc = Mat(v.data(), DType::kF32, 10, 16, -1, Device::kCuda);
  const TensorView oc = Mat(o.data(), DType::kF32, 4, 16, -1, Device::kCuda);
  EXPECT_EQ(CausalAttention(qc, kc, vc, 0, oc, 8).code(), StatusCode::kUnimplemented);
}

// ---- rotary ---------------------------------------------------------------------------------

TEST(RopeTest, InterleavedRotationOnAbsolutePositions) {
  std::mt19937 rng(30);
  const int64_t T = 6, H = 3, N = 16, A = H * N, ld = A + 2;
  const int64_t first_pos = 37;
  std::vector<float> x = Random(static_cast<size_t>(T * ld), rng, 1.0f);
  const std::vector<float> x0 = x;
  RopeParams params;
  params.enabled = true;
  params.base = 500.0;
  params.rebase = 2.0;
  params.rescale = 1.5;
  ASSERT_TRUE(Rope(MatF32(x.data(), T, A, ld), first_pos, static_cast<int>(N), params).ok());
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < N / 2; ++i) {
        const double w = std::pow(1000.0, -2.0 * static_cast<double>(i) / static_cast<double>(N)) / 1.5;
        const double theta = static_cast<double>(first_pos + t) * w;
        const size_t at = static_cast<size_t>(t * ld + h * N + 2 * i);
        const double a = D(x0[at]), b = D(x0[at + 1]);
        EXPECT_NEAR(x[at], a * std::cos(theta) - b * std::sin(theta), 2e-5);
        EXPECT_NEAR(x[at + 1], a * std::sin(theta) + b * std::cos(theta), 2e-5);
      }
    }
    EXPECT_EQ(x[static_cast<size_t>(t * ld + A)], x0[static_cast<size_t>(t * ld + A)]);  // padding
  }
}

TEST(RopeTest, DisabledIsANoOpAndPositionZeroIsIdentity) {
  std::mt19937 rng(31);
  std::vector<float> x = Random(2 * 32, rng, 1.0f);
  const std::vector<float> x0 = x;
  ASSERT_TRUE(Rope(MatF32(x.data(), 2, 32), 5, 16, RopeParams{}).ok());
  EXPECT_EQ(x, x0);
  RopeParams params;
  params.enabled = true;
  ASSERT_TRUE(Rope(MatF32(x.data(), 1, 32), 0, 16, params).ok());
  EXPECT_EQ(x, x0);  // theta = 0 for every pair
}

TEST(RopeTest, RejectsBadArguments) {
  std::vector<float> x(2 * 30);
  RopeParams params;
  params.enabled = true;
  EXPECT_EQ(Rope(MatF32(x.data(), 2, 30), 0, 15, params).code(), StatusCode::kInvalidArgument);  // odd
  EXPECT_EQ(Rope(MatF32(x.data(), 2, 30), 0, 20, params).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Rope(MatF32(x.data(), 2, 30), -1, 10, params).code(), StatusCode::kInvalidArgument);
  params.base = 0.0;
  EXPECT_EQ(Rope(MatF32(x.data(), 2, 30), 0, 10, params).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gf::kernels
