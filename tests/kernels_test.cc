// Tests of the kernel API's dense ops (tensor helpers, Gemm, norms, token shift, elementwise,
// gathers, conversions and argument validation) against naive double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/kernels.h"
#include "kernels/tensor.h"

namespace gf::kernels {
namespace {

// A padded row-major F32 matrix: rows x cols with row stride ld (padding filled with a sentinel).
struct Matrix {
  int64_t rows = 0, cols = 0, ld = 0;
  std::vector<float> data;
  Matrix(int64_t r, int64_t c, int64_t pad = 0)
      : rows(r),
        cols(c),
        ld(c + pad),
        data(static_cast<size_t>(std::max<int64_t>(r * (c + pad), 1)), 777.0f) {}
  float& at(int64_t r, int64_t c) { return data[static_cast<size_t>(r * ld + c)]; }
  float at(int64_t r, int64_t c) const { return data[static_cast<size_t>(r * ld + c)]; }
  TensorView view() { return MatF32(data.data(), rows, cols, ld); }
};

// Explicit widening (the project warns on implicit float -> double promotion).
double D(float f) { return static_cast<double>(f); }

void Fill(Matrix& m, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = 0; c < m.cols; ++c) m.at(r, c) = dist(rng);
}

std::vector<float> RandomVector(int64_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = dist(rng);
  return v;
}

// Padding between rows must never be written.
void ExpectPaddingUntouched(const Matrix& m) {
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = m.cols; c < m.ld; ++c) ASSERT_EQ(m.at(r, c), 777.0f) << r << "," << c;
}

// ---- tensor helpers -------------------------------------------------------------------------

TEST(TensorTest, DTypeSizesAndNames) {
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kI32), 4u);
  EXPECT_STREQ(DTypeName(DType::kF32), "f32");
  EXPECT_STREQ(DTypeName(DType::kBF16), "bf16");
  EXPECT_STREQ(DTypeName(DType::kF16), "f16");
  EXPECT_STREQ(DTypeName(DType::kI32), "i32");
}

TEST(TensorTest, BuildersAndSlices) {
  std::vector<float> buf(5 * 8);
  TensorView m = MatF32(buf.data(), 5, 6, 8);
  EXPECT_EQ(m.rank, 2);
  EXPECT_EQ(m.rows(), 5);
  EXPECT_EQ(m.cols(), 6);
  EXPECT_EQ(m.ld(), 8);
  EXPECT_EQ(m.numel(), 30);
  EXPECT_FALSE(m.is_contiguous());
  EXPECT_TRUE(MatF32(buf.data(), 5, 8).is_contiguous());
  TensorView rows = m.RowSlice(2, 3);
  EXPECT_EQ(rows.data, buf.data() + 16);
  EXPECT_EQ(rows.rows(), 3);
  EXPECT_EQ(rows.ld(), 8);
  TensorView cols = m.ColSlice(1, 4);
  EXPECT_EQ(cols.data, buf.data() + 1);
  EXPECT_EQ(cols.cols(), 4);
  EXPECT_EQ(cols.ld(), 8);
  EXPECT_EQ(m.ShapeString(), "[5, 6] ld=8 f32");

  std::vector<uint16_t> half(12);
  TensorView v = Vec(half.data(), DType::kBF16, 12);
  EXPECT_EQ(v.rank, 1);
  EXPECT_EQ(v.rows(), 1);
  EXPECT_EQ(v.cols(), 12);
  EXPECT_TRUE(v.is_contiguous());
  TensorView t = Tensor(buf.data(), DType::kF32, {2, 4, 5});
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.stride[0], 20);
  EXPECT_EQ(t.stride[1], 5);
  EXPECT_EQ(t.stride[2], 1);
  EXPECT_EQ(t.numel(), 40);
  EXPECT_TRUE(t.is_contiguous());
}

TEST(TensorTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(F32ToBf16(1.0f), 0x3f80);
  EXPECT_EQ(Bf16ToF32(0x3f80), 1.0f);
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
  EXPECT_EQ(F32ToBf16(1.0f + 1.0f / 256.0f), 0x3f80);
  // 1.0078125 + 2^-8 is halfway between 0x3f81 and 0x3f82: ties to even (0x3f82).
  EXPECT_EQ(F32ToBf16(1.0078125f + 1.0f / 256.0f), 0x3f82);
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(TensorTest, F16Conversions) {
  EXPECT_EQ(F32ToF16(1.0f), 0x3c00);
  EXPECT_EQ(F32ToF16(-2.0f), 0xc000);
  EXPECT_EQ(F32ToF16(0.0f), 0x0000);
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(65519.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);  // ties to even rounds up to infinity
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(F32ToF16(5.9604644775390625e-8f), 0x0001);   // smallest subnormal
  EXPECT_EQ(F32ToF16(2.98023223876953125e-8f), 0x0000);  // half of it: ties to even (0)
  EXPECT_EQ(F32ToF16(6.103515625e-5f), 0x0400);          // smallest normal
  EXPECT_EQ(F32ToF16(1.0f + 1.0f / 2048.0f), 0x3c00);    // tie -> even
  EXPECT_EQ(F32ToF16(1.0f + 3.0f / 2048.0f), 0x3c02);    // tie -> even (up)
  EXPECT_EQ(F16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(F16ToF32(0xc000), -2.0f);
  EXPECT_EQ(F16ToF32(0x7bff), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), 5.9604644775390625e-8f);
  EXPECT_EQ(F16ToF32(0x03ff), 6.0975551605224609375e-5f);
  EXPECT_EQ(F16ToF32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F16ToF32(0x7e00)));
  EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(std::numeric_limits<float>::quiet_NaN()))));
  // Every finite half survives a round trip through f32.
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    if ((h & 0x7c00u) == 0x7c00u) continue;
    ASSERT_EQ(F32ToF16(F16ToF32(static_cast<uint16_t>(h))), h) << h;
  }
}

// ---- Gemm -----------------------------------------------------------------------------------

// Double-precision y = x * w^T (+ y0); also returns sum |x||w| per element for the tolerance.
void ReferenceGemm(const Matrix& x, const std::vector<float>& w, int64_t N, const Matrix* y0,
                   std::vector<double>& out, std::vector<double>& magnitude) {
  const int64_t M = x.rows, K = x.cols;
  out.assign(static_cast<size_t>(M * N), 0.0);
  magnitude.assign(static_cast<size_t>(M * N), 0.0);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double s = y0 != nullptr ? D(y0->at(m, n)) : 0.0;
      double mag = y0 != nullptr ? std::fabs(D(y0->at(m, n))) : 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = D(x.at(m, k)) * D(w[static_cast<size_t>(n * K + k)]);
        s += p;
        mag += std::fabs(p);
      }
      out[static_cast<size_t>(m * N + n)] = s;
      magnitude[static_cast<size_t>(m * N + n)] = mag;
    }
  }
}

struct GemmCase {
  int64_t M, N, K;
  bool bf16;
  bool accumulate;
  int64_t pad;  // row padding of x, w and y (exercises ld > cols)
};

void RunGemmCase(const GemmCase& c, std::mt19937& rng) {
  SCOPED_TRACE(testing::Message() << "M=" << c.M << " N=" << c.N << " K=" << c.K << " bf16="
                                  << c.bf16 << " acc=" << c.accumulate << " pad=" << c.pad);
  Matrix x(c.M, c.K, c.pad);
  Fill(x, rng);
  // The weights as f32 values (bf16-representable when c.bf16) and in the tested storage.
  std::vector<float> w_values(static_cast<size_t>(c.N * c.K));
  const int64_t ldw = c.K + c.pad;
  std::vector<float> w_f32(static_cast<size_t>(c.N * ldw), 0.0f);
  std::vector<uint16_t> w_bf16(static_cast<size_t>(c.N * ldw), 0);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t n = 0; n < c.N; ++n) {
    for (int64_t k = 0; k < c.K; ++k) {
      float v = dist(rng);
      const uint16_t b = F32ToBf16(v);
      if (c.bf16) v = Bf16ToF32(b);
      w_values[static_cast<size_t>(n * c.K + k)] = v;
      w_f32[static_cast<size_t>(n * ldw + k)] = v;
      w_bf16[static_cast<size_t>(n * ldw + k)] = b;
    }
  }
  const TensorView w = c.bf16 ? Mat(w_bf16.data(), DType::kBF16, c.N, c.K, ldw)
                              : MatF32(w_f32.data(), c.N, c.K, ldw);
  Matrix y(c.M, c.N, c.pad);
  Fill(y, rng);
  const Matrix y0 = y;
  std::vector<double> ref, mag;
  ReferenceGemm(x, w_values, c.N, c.accumulate ? &y0 : nullptr, ref, mag);
  ASSERT_TRUE(Gemm(x.view(), w, y.view(), c.accumulate).ok());
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) {
      const auto i = static_cast<size_t>(m * c.N + n);
      ASSERT_NEAR(y.at(m, n), ref[i], 2e-6 * mag[i] + 1e-6) << "at " << m << "," << n;
    }
  }
  ExpectPaddingUntouched(y);
}

TEST(GemmTest, F32MatchesReference) {
  std::mt19937 rng(1);
  for (int64_t M : {1, 2, 3, 4, 5, 7, 16, 17, 33, 300}) {
    RunGemmCase({M, 37, 45, false, false, 0}, rng);
  }
  RunGemmCase({8, 64, 128, false, false, 0}, rng);
  RunGemmCase({5, 70, 200, false, true, 3}, rng);
  RunGemmCase({1, 129, 768, false, true, 5}, rng);
  RunGemmCase({64, 300, 96, false, false, 1}, rng);
}

TEST(GemmTest, Bf16WeightsMatchF32GemmOfRoundedWeights) {
  std::mt19937 rng(2);
  for (int64_t M : {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 64, 300}) {
    RunGemmCase({M, 67, 77, true, false, 0}, rng);
  }
  for (int64_t K : {1, 8, 15, 16, 17, 31, 32, 33, 256, 770}) {
    RunGemmCase({1, 21, K, true, false, 0}, rng);
    RunGemmCase({4, 21, K, true, true, 2}, rng);
    RunGemmCase({40, 21, K, true, true, 2}, rng);
  }
  RunGemmCase({3, 513, 96, true, true, 7}, rng);
  RunGemmCase({20, 600, 64, true, false, 1}, rng);
}

TEST(GemmTest, SlicedViews) {
  // A column slice of a wider weight matrix and a row slice of x, as the engine uses them.
  std::mt19937 rng(3);
  Matrix x_full(10, 48);
  Fill(x_full, rng);
  Matrix w_full(40, 48);
  Fill(w_full, rng);
  const TensorView x = x_full.view().RowSlice(2, 5);
  const TensorView w = w_full.view().RowSlice(8, 24);
  Matrix y(5, 24, 4);
  ASSERT_TRUE(Gemm(x, w, y.view()).ok());
  for (int64_t m = 0; m < 5; ++m) {
    for (int64_t n = 0; n < 24; ++n) {
      double s = 0.0;
      for (int64_t k = 0; k < 48; ++k) s += D(x_full.at(2 + m, k)) * D(w_full.at(8 + n, k));
      EXPECT_NEAR(y.at(m, n), s, 1e-5);
    }
  }
  ExpectPaddingUntouched(y);
}

TEST(GemmTest, SameResultWithOneThread) {
  std::mt19937 rng(4);
  Matrix x(3, 100);
  Fill(x, rng);
  std::vector<uint16_t> w(static_cast<size_t>(200 * 100));
  for (auto& b : w) b = F32ToBf16(std::uniform_real_distribution<float>(-1, 1)(rng));
  const TensorView wv = Mat(w.data(), DType::kBF16, 200, 100);
  Matrix y1(3, 200), y2(3, 200);
  const int threads = NumThreads();
  ASSERT_TRUE(Gemm(x.view(), wv, y1.view()).ok());
  SetNumThreads(1);
  EXPECT_EQ(NumThreads(), 1);
  ASSERT_TRUE(Gemm(x.view(), wv, y2.view()).ok());
  SetNumThreads(threads);
  EXPECT_EQ(NumThreads(), threads);
  EXPECT_EQ(y1.data, y2.data);
}

TEST(GemmTest, RejectsBadArguments) {
  std::vector<float> x(6 * 8), w(4 * 8), y(6 * 4);
  std::vector<uint16_t> xb(6 * 8);
  const TensorView xv = MatF32(x.data(), 6, 8), wv = MatF32(w.data(), 4, 8),
                   yv = MatF32(y.data(), 6, 4);
  EXPECT_TRUE(Gemm(xv, wv, yv).ok());
  EXPECT_EQ(Gemm(Mat(xb.data(), DType::kBF16, 6, 8), wv, yv).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Gemm(xv, Mat(w.data(), DType::kI32, 4, 8), yv).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Gemm(xv, MatF32(w.data(), 4, 7), yv).code(), StatusCode::kInvalidArgument);  // K
  EXPECT_EQ(Gemm(xv, wv, MatF32(y.data(), 6, 3)).code(), StatusCode::kInvalidArgument);  // N
  EXPECT_EQ(Gemm(xv, wv, MatF32(y.data(), 5, 4)).code(), StatusCode::kInvalidArgument);  // M
  EXPECT_EQ(Gemm(MatF32(x.data(), 6, 8, 4), wv, yv).code(),
            StatusCode::kInvalidArgument);  // ld<cols
  EXPECT_EQ(Gemm(MatF32(static_cast<float*>(nullptr), 6, 8), wv, yv).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Gemm(xv, wv, MatF32(x.data(), 6, 4)).code(), StatusCode::kInvalidArgument);  // alias
  TensorView x3 = Tensor(x.data(), DType::kF32, {2, 3, 8});
  EXPECT_EQ(Gemm(x3, wv, yv).code(), StatusCode::kInvalidArgument);  // rank 3
  const TensorView xc = Mat(x.data(), DType::kF32, 6, 8, -1, Device::kCuda);
  const TensorView wc = Mat(w.data(), DType::kF32, 4, 8, -1, Device::kCuda);
  const TensorView yc = Mat(y.data(), DType::kF32, 6, 4, -1, Device::kCuda);
  EXPECT_EQ(Gemm(xc, wc, yc).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(Gemm(xc, wv, yv).code(), StatusCode::kInvalidArgument);  // mixed devices
}

// ---- norms ----------------------------------------------------------------------------------

void CheckLayerNorm() {
  std::mt19937 rng(5);
  for (int64_t C : {1, 7, 64, 769}) {
    Matrix x(5, C, 3);
    Fill(x, rng, -3.0f, 5.0f);
    const std::vector<float> gamma = RandomVector(C, rng), beta = RandomVector(C, rng);
    Matrix y(5, C, 2);
    ASSERT_TRUE(
        LayerNorm(x.view(), VecF32(gamma.data(), C), VecF32(beta.data(), C), y.view()).ok());
    for (int64_t r = 0; r < 5; ++r) {
      double mean = 0.0, var = 0.0;
      for (int64_t c = 0; c < C; ++c) mean += D(x.at(r, c));
      mean /= static_cast<double>(C);
      for (int64_t c = 0; c < C; ++c) var += (D(x.at(r, c)) - mean) * (D(x.at(r, c)) - mean);
      var /= static_cast<double>(C);
      for (int64_t c = 0; c < C; ++c) {
        const double ref =
            (D(x.at(r, c)) - mean) / std::sqrt(var + 1e-5) * D(gamma[static_cast<size_t>(c)]) +
            D(beta[static_cast<size_t>(c)]);
        ASSERT_NEAR(y.at(r, c), ref, 1e-5 * (1.0 + std::fabs(ref))) << C << " " << r << " " << c;
      }
    }
    ExpectPaddingUntouched(y);
    // In place gives the same values.
    ASSERT_TRUE(
        LayerNorm(x.view(), VecF32(gamma.data(), C), VecF32(beta.data(), C), x.view()).ok());
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t c = 0; c < C; ++c) ASSERT_EQ(x.at(r, c), y.at(r, c));
  }
}

TEST(NormTest, LayerNormMatchesReference) { CheckLayerNorm(); }

void CheckRmsNorm() {
  std::mt19937 rng(6);
  Matrix x(4, 33, 1);
  Fill(x, rng, -2.0f, 2.0f);
  Matrix y(4, 33);
  const float eps = 0.25f;  // large, so that adding it outside the sqrt is visible
  ASSERT_TRUE(RmsNorm(x.view(), y.view(), eps).ok());
  for (int64_t r = 0; r < 4; ++r) {
    double sq = 0.0;
    for (int64_t c = 0; c < 33; ++c) sq += D(x.at(r, c)) * D(x.at(r, c));
    const double scale = 1.0 / (std::sqrt(sq / 33.0) + D(eps));
    for (int64_t c = 0; c < 33; ++c) ASSERT_NEAR(y.at(r, c), D(x.at(r, c)) * scale, 1e-6);
  }
  // All-zero row stays zero with the default eps.
  std::vector<float> zeros(16, 0.0f);
  ASSERT_TRUE(RmsNorm(MatF32(zeros.data(), 1, 16), MatF32(zeros.data(), 1, 16)).ok());
  for (float v : zeros) EXPECT_EQ(v, 0.0f);
}

TEST(NormTest, RmsNormAddsEpsToTheRms) { CheckRmsNorm(); }

TEST(NormTest, RejectsBadArguments) {
  std::vector<float> x(12), g(4), b(3);
  EXPECT_EQ(LayerNorm(MatF32(x.data(), 3, 4), VecF32(g.data(), 4), VecF32(b.data(), 3),
                      MatF32(x.data(), 3, 4))
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RmsNorm(MatF32(x.data(), 3, 4), MatF32(x.data(), 4, 3)).code(),
            StatusCode::kInvalidArgument);
  // Partial overlap (not the same view) is rejected.
  EXPECT_EQ(RmsNorm(MatF32(x.data(), 2, 4), MatF32(x.data() + 2, 2, 4)).code(),
            StatusCode::kInvalidArgument);
}

// ---- token shift ----------------------------------------------------------------------------

TEST(ShiftTest, ShiftDeltaUsesPrevOrZero) {
  std::mt19937 rng(7);
  Matrix x(4, 10, 2);
  Fill(x, rng);
  const std::vector<float> prev = RandomVector(10, rng);
  Matrix d(4, 10, 1);
  ASSERT_TRUE(ShiftDelta(x.view(), VecF32(prev.data(), 10), d.view()).ok());
  for (int64_t c = 0; c < 10; ++c) EXPECT_EQ(d.at(0, c), prev[static_cast<size_t>(c)] - x.at(0, c));
  for (int64_t t = 1; t < 4; ++t)
    for (int64_t c = 0; c < 10; ++c) EXPECT_EQ(d.at(t, c), x.at(t - 1, c) - x.at(t, c));
  ASSERT_TRUE(ShiftDelta(x.view(), TensorView{}, d.view()).ok());
  for (int64_t c = 0; c < 10; ++c) EXPECT_EQ(d.at(0, c), -x.at(0, c));
  EXPECT_EQ(d.at(2, 3), x.at(1, 3) - x.at(2, 3));
  ExpectPaddingUntouched(d);
  EXPECT_EQ(ShiftDelta(x.view(), TensorView{}, x.view()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ShiftDelta(x.view(), VecF32(prev.data(), 9), d.view()).code(),
            StatusCode::kInvalidArgument);
}

TEST(ShiftTest, ShiftMixWithAndWithoutLora) {
  std::mt19937 rng(8);
  Matrix x(3, 9), delta(3, 9), m(3, 9, 2), out(3, 9);
  Fill(x, rng);
  Fill(delta, rng);
  Fill(m, rng);
  const std::vector<float> mu = RandomVector(9, rng);
  ASSERT_TRUE(ShiftMix(x.view(), delta.view(), VecF32(mu.data(), 9), m.view(), out.view()).ok());
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t c = 0; c < 9; ++c)
      EXPECT_FLOAT_EQ(out.at(t, c),
                      x.at(t, c) + delta.at(t, c) * (mu[static_cast<size_t>(c)] + m.at(t, c)));
  ASSERT_TRUE(
      ShiftMix(x.view(), delta.view(), VecF32(mu.data(), 9), TensorView{}, out.view()).ok());
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t c = 0; c < 9; ++c)
      EXPECT_FLOAT_EQ(out.at(t, c), x.at(t, c) + delta.at(t, c) * mu[static_cast<size_t>(c)]);
  const Matrix x0 = x;
  ASSERT_TRUE(ShiftMix(x.view(), delta.view(), VecF32(mu.data(), 9), TensorView{}, x.view()).ok());
  EXPECT_FLOAT_EQ(x.at(1, 4), x0.at(1, 4) + delta.at(1, 4) * mu[4]);
  EXPECT_EQ(ShiftMix(x.view(), delta.view(), VecF32(mu.data(), 9), MatF32(m.data.data(), 2, 9),
                     out.view())
                .code(),
            StatusCode::kInvalidArgument);
}

// ---- elementwise ----------------------------------------------------------------------------

TEST(ElementwiseTest, ActivationsMatchReference) {
  std::mt19937 rng(9);
  Matrix base(3, 21, 3);
  Fill(base, rng, -6.0f, 6.0f);
  base.at(0, 0) = 1e-6f;
  base.at(0, 1) = -30.0f;
  Matrix t = base, s = base, q = base;
  ASSERT_TRUE(Tanh(t.view()).ok());
  ASSERT_TRUE(Sigmoid(s.view()).ok());
  ASSERT_TRUE(ReluSquare(q.view()).ok());
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 21; ++c) {
      const double v = base.at(r, c);
      const double th = std::tanh(v), sg = 1.0 / (1.0 + std::exp(-v)), rq = v > 0 ? v * v : 0.0;
      EXPECT_NEAR(t.at(r, c), th, 2e-6 * std::fabs(th) + 1e-30);
      EXPECT_NEAR(s.at(r, c), sg, 2e-6 * sg + 1e-30);
      EXPECT_NEAR(q.at(r, c), rq, 1e-6 * rq);
    }
  }
  ExpectPaddingUntouched(t);
  ExpectPaddingUntouched(s);
  ExpectPaddingUntouched(q);
}

// Dense sweeps over the whole useful range (the vectorised paths must keep ~1e-6 relative
// accuracy everywhere, including tiny arguments and the switch points of the approximations).
void CheckTranscendentals() {
  std::vector<float> grid;
  for (float v = -30.0f; v <= 30.0f; v += 0.01171875f) grid.push_back(v);
  for (float v = 1e-30f; v < 10.0f; v *= 1.37f) {
    grid.push_back(v);
    grid.push_back(-v);
  }
  for (float v : {0.0f, 0.625f, -0.625f, 0.62499994f, 88.0f, -88.0f, 100.0f, -100.0f})
    grid.push_back(v);
  const auto n = static_cast<int64_t>(grid.size());
  std::vector<float> t = grid, s = grid;
  ASSERT_TRUE(Tanh(MatF32(t.data(), 1, n)).ok());
  ASSERT_TRUE(Sigmoid(MatF32(s.data(), 1, n)).ok());
  for (int64_t i = 0; i < n; ++i) {
    const double v = D(grid[static_cast<size_t>(i)]);
    const double th = std::tanh(v), sg = 1.0 / (1.0 + std::exp(-v));
    ASSERT_NEAR(t[static_cast<size_t>(i)], th, 1e-6 * std::fabs(th) + 1e-37) << "tanh(" << v << ")";
    // Sigmoid results below FLT_MIN may flush to zero.
    ASSERT_NEAR(s[static_cast<size_t>(i)], sg, 1e-6 * sg + 1.2e-38) << "sigmoid(" << v << ")";
  }
  // DecayKeyScale over w_hat in [-12, 5] with k = 1: exactly the factor 1 - exp(-exp(w)).
  std::vector<float> w, k;
  for (float v = -12.0f; v <= 5.0f; v += 0.00390625f) {
    w.push_back(v);
    k.push_back(1.0f);
  }
  const auto m = static_cast<int64_t>(w.size());
  ASSERT_TRUE(DecayKeyScale(MatF32(k.data(), 1, m), MatF32(w.data(), 1, m)).ok());
  for (int64_t i = 0; i < m; ++i) {
    const double want = -std::expm1(-std::exp(D(w[static_cast<size_t>(i)])));
    ASSERT_NEAR(k[static_cast<size_t>(i)], want, 1e-6 * want) << "w=" << w[static_cast<size_t>(i)];
  }
  std::vector<float> special = {std::numeric_limits<float>::quiet_NaN(),
                                std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(),
                                0.5f,
                                0.5f,
                                0.5f,
                                0.5f,
                                0.5f};
  std::vector<float> special_t = special;
  ASSERT_TRUE(Tanh(MatF32(special_t.data(), 1, 8)).ok());
  EXPECT_TRUE(std::isnan(special_t[0]));
  EXPECT_EQ(special_t[1], 1.0f);
  EXPECT_EQ(special_t[2], -1.0f);
  ASSERT_TRUE(Sigmoid(MatF32(special.data(), 1, 8)).ok());
  EXPECT_TRUE(std::isnan(special[0]));
  EXPECT_EQ(special[1], 1.0f);
  EXPECT_EQ(special[2], 0.0f);
}

TEST(ElementwiseTest, TranscendentalsAreAccurateOverTheirRange) { CheckTranscendentals(); }

TEST(ElementwiseTest, AddsAndProducts) {
  std::mt19937 rng(10);
  Matrix x(4, 11, 1), y(4, 11, 2), a(4, 11), b(4, 11, 5);
  Fill(x, rng);
  Fill(y, rng);
  Fill(a, rng);
  Fill(b, rng);
  const std::vector<float> v = RandomVector(11, rng);
  const Matrix x0 = x;
  ASSERT_TRUE(AddRowVector(x.view(), VecF32(v.data(), 11)).ok());
  ASSERT_TRUE(Add(x.view(), y.view()).ok());
  ASSERT_TRUE(AddProduct(x.view(), a.view(), b.view()).ok());
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 11; ++c)
      EXPECT_FLOAT_EQ(x.at(r, c), ((x0.at(r, c) + v[static_cast<size_t>(c)]) + y.at(r, c)) +
                                      a.at(r, c) * b.at(r, c));
  ExpectPaddingUntouched(x);
  // x += x doubles.
  Matrix z(2, 5);
  Fill(z, rng);
  const Matrix z0 = z;
  ASSERT_TRUE(Add(z.view(), z.view()).ok());
  EXPECT_EQ(z.at(1, 3), 2.0f * z0.at(1, 3));
  EXPECT_EQ(Add(x.view(), MatF32(y.data.data(), 4, 10, y.ld)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AddRowVector(x.view(), VecF32(v.data(), 10)).code(), StatusCode::kInvalidArgument);
  std::vector<float> c(8);
  EXPECT_EQ(Tanh(Mat(c.data(), DType::kBF16, 2, 4)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Tanh(Mat(c.data(), DType::kF32, 2, 4, -1, Device::kCuda)).code(),
            StatusCode::kUnimplemented);
}

TEST(ElementwiseTest, DecayKeyScale) {
  std::mt19937 rng(11);
  Matrix k(3, 17), w(3, 17, 2);
  Fill(k, rng);
  Fill(w, rng, -8.0f, 3.0f);
  const Matrix k0 = k;
  ASSERT_TRUE(DecayKeyScale(k.view(), w.view()).ok());
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 17; ++c) {
      const double ref = D(k0.at(r, c)) * (1.0 - std::exp(-std::exp(D(w.at(r, c)))));
      EXPECT_NEAR(k.at(r, c), ref, 2e-6 * std::fabs(ref) + 1e-30);
    }
  }
}

// ---- gathers and conversions ----------------------------------------------------------------

void CheckEmbeddingGather() {
  std::mt19937 rng(12);
  Matrix table(9, 13, 3);
  Fill(table, rng);
  std::vector<uint16_t> table_bf16(9 * 13);
  for (int64_t r = 0; r < 9; ++r)
    for (int64_t c = 0; c < 13; ++c)
      table_bf16[static_cast<size_t>(r * 13 + c)] = F32ToBf16(table.at(r, c));
  const std::vector<int32_t> ids = {4, 0, 8, 4};
  Matrix out(4, 13, 1);
  ASSERT_TRUE(EmbeddingGather(table.view(), ids, out.view()).ok());
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t c = 0; c < 13; ++c)
      EXPECT_EQ(out.at(t, c), table.at(ids[static_cast<size_t>(t)], c));
  ASSERT_TRUE(EmbeddingGather(Mat(table_bf16.data(), DType::kBF16, 9, 13), ids, out.view()).ok());
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t c = 0; c < 13; ++c)
      EXPECT_EQ(out.at(t, c), Bf16ToF32(F32ToBf16(table.at(ids[static_cast<size_t>(t)], c))));
  ExpectPaddingUntouched(out);
  const std::vector<int32_t> bad = {1, 9};
  EXPECT_EQ(EmbeddingGather(table.view(), bad, MatF32(out.data.data(), 2, 13, out.ld)).code(),
            StatusCode::kInvalidArgument);
  const std::vector<int32_t> negative = {-1};
  EXPECT_EQ(EmbeddingGather(table.view(), negative, MatF32(out.data.data(), 1, 13)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(EmbeddingGather(table.view(), ids, MatF32(out.data.data(), 3, 13)).code(),
            StatusCode::kInvalidArgument);
}

TEST(GatherTest, EmbeddingGatherF32AndBf16) { CheckEmbeddingGather(); }

void CheckConvertAllPairs() {
  std::mt19937 rng(13);
  Matrix src(3, 19, 2);
  Fill(src, rng, -100.0f, 100.0f);
  src.at(0, 0) = 1e-7f;     // an f16 subnormal
  src.at(0, 1) = 70000.0f;  // f16 overflow
  const DType types[] = {DType::kF32, DType::kBF16, DType::kF16};
  auto expected = [](float f, DType t) {
    if (t == DType::kBF16) return Bf16ToF32(F32ToBf16(f));
    if (t == DType::kF16) return F16ToF32(F32ToF16(f));
    return f;
  };
  for (DType a : types) {
    // Build the source in dtype a (padded rows), from the f32 values.
    const int64_t ld_a = 22;
    std::vector<uint32_t> buf_a(3 * ld_a, 0);
    for (int64_t r = 0; r < 3; ++r) {
      for (int64_t c = 0; c < 19; ++c) {
        const float f = src.at(r, c);
        if (a == DType::kF32) std::memcpy(&buf_a[static_cast<size_t>(r * ld_a + c)], &f, 4);
        auto* h = reinterpret_cast<uint16_t*>(buf_a.data());
        if (a == DType::kBF16) h[r * ld_a + c] = F32ToBf16(f);
        if (a == DType::kF16) h[r * ld_a + c] = F32ToF16(f);
      }
    }
    const TensorView va = Mat(buf_a.data(), a, 3, 19, ld_a);
    for (DType b : types) {
      SCOPED_TRACE(std::string(DTypeName(a)) + "->" + DTypeName(b));
      std::vector<uint32_t> buf_b(3 * 20, 0);
      const TensorView vb = Mat(buf_b.data(), b, 3, 19, 20);
      ASSERT_TRUE(Convert(va, vb).ok());
      Matrix back(3, 19);
      ASSERT_TRUE(Convert(vb, back.view()).ok());
      for (int64_t r = 0; r < 3; ++r) {
        for (int64_t c = 0; c < 19; ++c) {
          const float want = expected(expected(src.at(r, c), a), b);
          ASSERT_EQ(back.at(r, c), want) << r << "," << c;
        }
      }
    }
  }
  std::vector<int32_t> ints(4);
  std::vector<float> f(4);
  EXPECT_EQ(Convert(Vec(ints.data(), DType::kI32, 4), VecF32(f.data(), 4)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Convert(VecF32(f.data(), 4), Vec(f.data(), DType::kBF16, 3)).code(),
            StatusCode::kInvalidArgument);
}

TEST(ConvertTest, AllPairsWithStrides) { CheckConvertAllPairs(); }

// f32 -> bf16 of every rounding case (ties to even both ways, carries into the exponent, overflow
// to infinity, NaNs of both signs and payloads, zeros, subnormals) gives F32ToBf16's bits, in
// the vector body and the scalar tail of a row alike.
void CheckF32ToBf16Rounding() {
  const uint32_t cases[] = {0x00000000u, 0x80000000u, 0x3f808000u, 0x3f818000u, 0x3f807fffu,
                            0x3f808001u, 0x3fff8000u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u,
                            0xff800000u, 0x7fc00000u, 0xffc00001u, 0x7f800001u, 0xff812345u,
                            0x00000001u, 0x807fffffu, 0x00ff8000u, 0x3f800000u, 0xbf808000u};
  std::vector<float> src;
  for (int rep = 0; rep < 3; ++rep) {  // 60 values: three vector blocks of 16 and a tail of 12
    for (uint32_t bits : cases) {
      float f;
      std::memcpy(&f, &bits, sizeof(f));
      src.push_back(f);
    }
  }
  std::vector<uint16_t> out(src.size());
  ASSERT_TRUE(Convert(VecF32(src.data(), static_cast<int64_t>(src.size())),
                      Vec(out.data(), DType::kBF16, static_cast<int64_t>(out.size())))
                  .ok());
  for (size_t i = 0; i < src.size(); ++i) {
    ASSERT_EQ(out[i], F32ToBf16(src[i])) << "element " << i;
  }
}

TEST(ConvertTest, F32ToBf16RoundsLikeTheScalarRule) { CheckF32ToBf16Rounding(); }

// ---- the scalar (non-AVX2) paths ------------------------------------------------------------

// Runs the same checks with the plain scalar kernels forced (the path of CPUs without AVX2).
class ScalarPathTest : public ::testing::Test {
 protected:
  void SetUp() override { cpu::ForceScalarForTesting(true); }
  void TearDown() override { cpu::ForceScalarForTesting(false); }
};

TEST_F(ScalarPathTest, Gemm) {
  std::mt19937 rng(40);
  for (int64_t M : {1, 3, 5, 17, 40}) {
    RunGemmCase({M, 37, 45, false, false, 1}, rng);
    RunGemmCase({M, 37, 45, true, true, 2}, rng);
  }
}

TEST_F(ScalarPathTest, NormsActivationsAndConversions) {
  CheckLayerNorm();
  CheckRmsNorm();
  CheckTranscendentals();
  CheckConvertAllPairs();
  CheckF32ToBf16Rounding();
  CheckEmbeddingGather();
}

}  // namespace
}  // namespace gf::kernels
