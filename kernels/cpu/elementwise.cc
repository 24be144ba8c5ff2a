// CPU token shift and elementwise ops on F32 matrices (row by row, honouring row strides).
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec_ops.h"

namespace gf::kernels::cpu {
namespace {

// Calls fn(row_pointer, row_index, cols) for every row of x.
template <typename Fn>
void ForEachRow(const TensorView& x, Fn&& fn) {
  for (int64_t r = 0; r < x.rows(); ++r) fn(x.row_ptr<float>(r), r, x.cols());
}

}  // namespace

void ShiftDelta(const TensorView& x, const TensorView& prev, const TensorView& delta) {
  const int64_t C = x.cols();
  for (int64_t t = 0; t < x.rows(); ++t) {
    const float* cur = x.row_ptr<const float>(t);
    const float* before = t > 0 ? x.row_ptr<const float>(t - 1) : prev.ptr<const float>();
    float* d = delta.row_ptr<float>(t);
    if (before == nullptr) {
      for (int64_t c = 0; c < C; ++c) d[c] = -cur[c];
    } else {
      for (int64_t c = 0; c < C; ++c) d[c] = before[c] - cur[c];
    }
  }
}

void ShiftMix(const TensorView& x, const TensorView& delta, const TensorView& mu,
              const TensorView& m, const TensorView& out) {
  const int64_t C = x.cols();
  const float* mu_p = mu.ptr<const float>();
  for (int64_t t = 0; t < x.rows(); ++t) {
    const float* xr = x.row_ptr<const float>(t);
    const float* dr = delta.row_ptr<const float>(t);
    float* o = out.row_ptr<float>(t);
    if (m.data == nullptr) {
      for (int64_t c = 0; c < C; ++c) o[c] = xr[c] + dr[c] * mu_p[c];
    } else {
      const float* mr = m.row_ptr<const float>(t);
      for (int64_t c = 0; c < C; ++c) o[c] = xr[c] + dr[c] * (mu_p[c] + mr[c]);
    }
  }
}

namespace {

// The transcendental ops run on whole rows through ScalarOps or Avx2Ops.
template <typename Ops>
GF_INLINE void TanhRows(const TensorView& x) {
  ForEachRow(x, [](float* row, int64_t, int64_t n) { Ops::Tanh(row, n); });
}
template <typename Ops>
GF_INLINE void SigmoidRows(const TensorView& x) {
  ForEachRow(x, [](float* row, int64_t, int64_t n) { Ops::Sigmoid(row, n); });
}
template <typename Ops>
GF_INLINE void DecayKeyScaleRows(const TensorView& k, const TensorView& w_hat) {
  ForEachRow(k, [&w_hat](float* row, int64_t r, int64_t n) {
    Ops::ScaleByOneMinusDecay(row, w_hat.row_ptr<const float>(r), n);
  });
}

GF_TARGET_AVX2 void TanhAvx2(const TensorView& x) { TanhRows<Avx2Ops>(x); }
GF_TARGET_AVX2 void SigmoidAvx2(const TensorView& x) { SigmoidRows<Avx2Ops>(x); }
GF_TARGET_AVX2 void DecayKeyScaleAvx2(const TensorView& k, const TensorView& w_hat) {
  DecayKeyScaleRows<Avx2Ops>(k, w_hat);
}

}  // namespace

void Tanh(const TensorView& x) { HasAvx2Fma() ? TanhAvx2(x) : TanhRows<ScalarOps>(x); }

void Sigmoid(const TensorView& x) { HasAvx2Fma() ? SigmoidAvx2(x) : SigmoidRows<ScalarOps>(x); }

void DecayKeyScale(const TensorView& k, const TensorView& w_hat) {
  HasAvx2Fma() ? DecayKeyScaleAvx2(k, w_hat) : DecayKeyScaleRows<ScalarOps>(k, w_hat);
}

void ReluSquare(const TensorView& x) {
  ForEachRow(x, [](float* row, int64_t, int64_t n) {
    for (int64_t c = 0; c < n; ++c) {
      const float p = std::max(row[c], 0.0f);
      row[c] = p * p;
    }
  });
}

void AddRowVector(const TensorView& x, const TensorView& v) {
  const float* vp = v.ptr<const float>();
  ForEachRow(x, [vp](float* row, int64_t, int64_t n) {
    for (int64_t c = 0; c < n; ++c) row[c] += vp[c];
  });
}

void Add(const TensorView& x, const TensorView& y) {
  ForEachRow(x, [&y](float* row, int64_t r, int64_t n) {
    const float* yr = y.row_ptr<const float>(r);
    for (int64_t c = 0; c < n; ++c) row[c] += yr[c];
  });
}

void AddProduct(const TensorView& x, const TensorView& a, const TensorView& b) {
  ForEachRow(x, [&a, &b](float* row, int64_t r, int64_t n) {
    const float* ar = a.row_ptr<const float>(r);
    const float* br = b.row_ptr<const float>(r);
    for (int64_t c = 0; c < n; ++c) row[c] += ar[c] * br[c];
  });
}

}  // namespace gf::kernels::cpu
