// Tests of the RWKV-6 WKV kernels: Wkv6Sequential against a naive double-precision recurrence,
// Wkv6Chunked against Wkv6Sequential (strong, weak and mixed decays, chunk boundaries, continuing
// a non-zero state), and argument validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/kernels.h"

namespace gf::kernels {
namespace {

double D(float f) { return static_cast<double>(f); }

// Inputs of one WKV call for T tokens, H heads of size N; rows padded by `pad` floats.
struct WkvInputs {
  int64_t T, H, N, A, ld;
  std::vector<float> r, k, v, w, state;
  WkvInputs(int64_t t, int64_t h, int64_t n, int64_t pad, float w_lo, float w_hi, uint32_t seed)
      : T(t), H(h), N(n), A(h * n), ld(h * n + pad) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    std::uniform_real_distribution<float> decay(w_lo, w_hi);
    const auto size = static_cast<size_t>(std::max<int64_t>(T * ld, 1));
    r.assign(size, 0.0f);
    k.assign(size, 0.0f);
    v.assign(size, 0.0f);
    w.assign(size, 0.0f);
    for (int64_t i = 0; i < T; ++i) {
      for (int64_t c = 0; c < A; ++c) {
        const auto at = static_cast<size_t>(i * ld + c);
        r[at] = unit(rng);
        k[at] = unit(rng);
        v[at] = unit(rng);
        w[at] = decay(rng);
      }
    }
    state.resize(static_cast<size_t>(H * N * N));
    for (float& s : state) s = unit(rng);
  }
  TensorView R() { return MatF32(r.data(), T, A, ld); }
  TensorView K() { return MatF32(k.data(), T, A, ld); }
  TensorView V() { return MatF32(v.data(), T, A, ld); }
  TensorView W() { return MatF32(w.data(), T, A, ld); }
};

TensorView StateView(std::vector<float>& s, int64_t H, int64_t N) {
  return Tensor(s.data(), DType::kF32, {H, N, N});
}

// The recurrence of kernels.h in double precision; returns y [T, A] and updates state.
std::vector<double> NaiveWkv(const WkvInputs& in, std::vector<double>& state) {
  std::vector<double> y(static_cast<size_t>(in.T * in.A), 0.0);
  for (int64_t t = 0; t < in.T; ++t) {
    for (int64_t h = 0; h < in.H; ++h) {
      const int64_t base = t * in.ld + h * in.N;
      double* S = state.data() + h * in.N * in.N;
      for (int64_t i = 0; i < in.N; ++i) {
        double acc = 0.0;
        for (int64_t j = 0; j < in.N; ++j) acc += D(in.r[static_cast<size_t>(base + j)]) * S[i * in.N + j];
        y[static_cast<size_t>(t * in.A + h * in.N + i)] = acc;
      }
      for (int64_t i = 0; i < in.N; ++i) {
        for (int64_t j = 0; j < in.N; ++j) {
          const double decay = std::exp(-std::exp(D(in.w[static_cast<size_t>(base + j)])));
          S[i * in.N + j] = decay * S[i * in.N + j] +
                            D(in.k[static_cast<size_t>(base + j)]) * D(in.v[static_cast<size_t>(base + i)]);
        }
      }
    }
  }
  return y;
}

double MeanAbs(const std::vector<float>& v) {
  double s = 0.0;
  for (float f : v) s += std::fabs(D(f));
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

TEST(Wkv6Test, SequentialMatchesNaiveRecurrence) {
  for (int64_t N : {8, 64}) {
    WkvInputs in(13, 3, N, 5, -4.0f, 1.5f, 21);
    std::vector<double> ref_state(in.state.begin(), in.state.end());
    const std::vector<double> ref_y = NaiveWkv(in, ref_state);
    std::vector<float> y(static_cast<size_t>(in.T * (in.A + 2)), 555.0f);
    ASSERT_TRUE(Wkv6Sequential(in.R(), in.K(), in.V(), in.W(), StateView(in.state, in.H, N),
                               MatF32(y.data(), in.T, in.A, in.A + 2), static_cast<int>(N)).ok());
    for (int64_t t = 0; t < in.T; ++t) {
      for (int64_t c = 0; c < in.A; ++c) {
        const double want = ref_y[static_cast<size_t>(t * in.A + c)];
        ASSERT_NEAR(y[static_cast<size_t>(t * (in.A + 2) + c)], want, 1e-5 * (1.0 + std::fabs(want)))
            << "N=" << N << " t=" << t << " c=" << c;
      }
      EXPECT_EQ(y[static_cast<size_t>(t * (in.A + 2) + in.A)], 555.0f);  // padding untouched
    }
    for (size_t i = 0; i < ref_state.size(); ++i) {
      ASSERT_NEAR(in.state[i], ref_state[i], 1e-5 * (1.0 + std::fabs(ref_state[i]))) << i;
    }
  }
}

TEST(Wkv6Test, TwoCallsEqualOneCall) {
  WkvInputs in(20, 2, 16, 0, -3.0f, 1.0f, 22);
  std::vector<float> state_one = in.state, state_two = in.state;
  std::vector<float> y_one(static_cast<size_t>(20 * in.A)), y_two(static_cast<size_t>(20 * in.A));
  ASSERT_TRUE(Wkv6Sequential(in.R(), in.K(), in.V(), in.W(), StateView(state_one, 2, 16),
                             MatF32(y_one.data(), 20, in.A), 16).ok());
  const TensorView y2 = MatF32(y_two.data(), 20, in.A);
  ASSERT_TRUE(Wkv6Sequential(in.R().RowSlice(0, 7), in.K().RowSlice(0, 7), in.V().RowSlice(0, 7),
                             in.W().RowSlice(0, 7), StateView(state_two, 2, 16), y2.RowSlice(0, 7), 16).ok());
  ASSERT_TRUE(Wkv6Sequential(in.R().RowSlice(7, 13), in.K().RowSlice(7, 13), in.V().RowSlice(7, 13),
                             in.W().RowSlice(7, 13), StateView(state_two, 2, 16), y2.RowSlice(7, 13), 16).ok());
  EXPECT_EQ(y_one, y_two);
  EXPECT_EQ(state_one, state_two);
}

struct DecayRange {
  const char* name;
  float lo, hi;
};

TEST(Wkv6Test, ChunkedMatchesSequential) {
  const DecayRange ranges[] = {{"strong", 2.0f, 3.0f}, {"weak", -8.0f, -7.0f}, {"mixed", -8.0f, 3.0f},
                               {"moderate", -1.5f, 0.5f}};
  uint32_t seed = 100;
  for (const DecayRange& range : ranges) {
    for (int64_t T : {1, 5, 16, 17, 63, 64, 65, 200}) {
      for (int64_t N : {16, 64}) {
        SCOPED_TRACE(testing::Message() << range.name << " T=" << T << " N=" << N);
        WkvInputs in(T, 2, N, 3, range.lo, range.hi, seed++);
        std::vector<float> state_seq = in.state, state_chunk = in.state;
        const auto size = static_cast<size_t>(T * in.A);
        std::vector<float> y_seq(size), y_chunk(size);
        ASSERT_TRUE(Wkv6Sequential(in.R(), in.K(), in.V(), in.W(), StateView(state_seq, 2, N),
                                   MatF32(y_seq.data(), T, in.A), static_cast<int>(N)).ok());
        ASSERT_TRUE(Wkv6Chunked(in.R(), in.K(), in.V(), in.W(), StateView(state_chunk, 2, N),
                                MatF32(y_chunk.data(), T, in.A), static_cast<int>(N)).ok());
        const double y_scale = MeanAbs(y_seq);
        for (size_t i = 0; i < size; ++i) {
          ASSERT_NEAR(y_chunk[i], y_seq[i], 1e-5 * (std::fabs(D(y_seq[i])) + y_scale)) << "y " << i;
        }
        const double s_scale = MeanAbs(state_seq);
        for (size_t i = 0; i < state_seq.size(); ++i) {
          ASSERT_NEAR(state_chunk[i], state_seq[i], 1e-5 * (std::fabs(D(state_seq[i])) + s_scale))
              << "state " << i;
        }
      }
    }
  }
}

TEST(Wkv6Test, ChunkedContinuesAcrossCalls) {
  // Three calls of uneven length (crossing chunk boundaries) equal one sequential pass.
  WkvInputs in(150, 3, 32, 0, -6.0f, 2.0f, 23);
  std::vector<float> state_seq = in.state, state_chunk = in.state;
  const auto size = static_cast<size_t>(150 * in.A);
  std::vector<float> y_seq(size), y_chunk(size);
  ASSERT_TRUE(Wkv6Sequential(in.R(), in.K(), in.V(), in.W(), StateView(state_seq, 3, 32),
                             MatF32(y_seq.data(), 150, in.A), 32).ok());
  const TensorView y = MatF32(y_chunk.data(), 150, in.A);
  const int64_t splits[] = {0, 70, 71, 150};
  for (int s = 0; s < 3; ++s) {
    const int64_t b = splits[s], n = splits[s + 1] - splits[s];
    ASSERT_TRUE(Wkv6Chunked(in.R().RowSlice(b, n), in.K().RowSlice(b, n), in.V().RowSlice(b, n),
                            in.W().RowSlice(b, n), StateView(state_chunk, 3, 32), y.RowSlice(b, n), 32).ok());
  }
  const double scale = MeanAbs(y_seq);
  for (size_t i = 0; i < size; ++i) ASSERT_NEAR(y_chunk[i], y_seq[i], 1e-5 * (std::fabs(D(y_seq[i])) + scale));
}

TEST(Wkv6Test, RejectsBadArguments) {
  WkvInputs in(4, 2, 8, 0, -1.0f, 0.0f, 24);
  std::vector<float> y(static_cast<size_t>(4 * in.A));
  const TensorView yv = MatF32(y.data(), 4, in.A);
  const TensorView sv = StateView(in.state, 2, 8);
  EXPECT_TRUE(Wkv6Sequential(in.R(), in.K(), in.V(), in.W(), sv, yv, 8).ok());
  EXPECT_EQ(Wkv6Sequential(in.R(), in.K(), in.V(), in.W(), sv, yv, 6).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Wkv6Chunked(in.R(), in.K(), in.V(), in.W(), Tensor(in.state.data(), DType::kF32, {2, 8, 7}), yv, 8).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Wkv6Chunked(in.R(), in.K().RowSlice(0, 3), in.V(), in.W(), sv, yv, 8).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Wkv6Sequential(in.R(), in.K(), in.V(), in.W(), sv, in.R(), 8).code(),  // y aliases r
            StatusCode::kInvalidArgument);
  TensorView cuda_state = sv;
  cuda_state.device = Device::kCuda;
  EXPECT_EQ(Wkv6Sequential(in.R(), in.K(), in.V(), in.W(), cuda_state, yv, 8).code(),
            StatusCode::kInvalidArgument);  // mixed devices
  std::vector<uint16_t> half(static_cast<size_t>(4 * in.A));
  EXPECT_EQ(Wkv6Sequential(Mat(half.data(), DType::kBF16, 4, in.A), in.K(), in.V(), in.W(), sv, yv, 8).code(),
            StatusCode::kInvalidArgument);
}

// The plain scalar kernels (CPUs without AVX2) against the naive loop and the AVX2 kernels.
TEST(Wkv6Test, ScalarPathMatchesNaiveAndVectorised) {
  for (int64_t T : {1, 17, 70}) {
    SCOPED_TRACE(testing::Message() << "T=" << T);
    WkvInputs in(T, 2, 32, 1, -7.0f, 2.5f, 300 + static_cast<uint32_t>(T));
    std::vector<double> ref_state(in.state.begin(), in.state.end());
    const std::vector<double> ref_y = NaiveWkv(in, ref_state);
    const auto size = static_cast<size_t>(T * in.A);
    std::vector<float> y_scalar_seq(size), y_scalar_chunk(size), y_fast(size);
    std::vector<float> s_scalar_seq = in.state, s_scalar_chunk = in.state, s_fast = in.state;
    cpu::ForceScalarForTesting(true);
    const bool ok_seq = Wkv6Sequential(in.R(), in.K(), in.V(), in.W(), StateView(s_scalar_seq, 2, 32),
                                       MatF32(y_scalar_seq.data(), T, in.A), 32).ok();
    const bool ok_chunk = Wkv6Chunked(in.R(), in.K(), in.V(), in.W(), StateView(s_scalar_chunk, 2, 32),
                                      MatF32(y_scalar_chunk.data(), T, in.A), 32).ok();
    cpu::ForceScalarForTesting(false);
    ASSERT_TRUE(ok_seq && ok_chunk);
    ASSERT_TRUE(Wkv6Chunked(in.R(), in.K(), in.V(), in.W(), StateView(s_fast, 2, 32),
                            MatF32(y_fast.data(), T, in.A), 32).ok());
    for (size_t i = 0; i < size; ++i) {
      const double want = ref_y[i];
      ASSERT_NEAR(y_scalar_seq[i], want, 1e-5 * (1.0 + std::fabs(want))) << i;
      ASSERT_NEAR(y_scalar_chunk[i], want, 1e-5 * (1.0 + std::fabs(want))) << i;
      ASSERT_NEAR(y_fast[i], want, 1e-5 * (1.0 + std::fabs(want))) << i;
    }
    for (size_t i = 0; i < ref_state.size(); ++i) {
      ASSERT_NEAR(s_scalar_chunk[i], ref_state[i], 1e-5 * (1.0 + std::fabs(ref_state[i]))) << i;
      ASSERT_NEAR(s_fast[i], ref_state[i], 1e-5 * (1.0 + std::fabs(ref_state[i]))) << i;
    }
  }
}

}  // namespace
}  // namespace gf::kernels
