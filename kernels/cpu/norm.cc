// CPU LayerNorm and RmsNorm: one row at a time, statistics in F32 (two passes for the variance).
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec_ops.h"

namespace gf::kernels::cpu {
namespace {

template <typename Ops>
GF_INLINE void LayerNormRows(const TensorView& x, const TensorView& gamma, const TensorView& beta,
                             const TensorView& y, float eps) {
  const int64_t C = x.cols();
  const float* g = gamma.ptr<const float>();
  const float* b = beta.ptr<const float>();
  for (int64_t r = 0; r < x.rows(); ++r) {
    const float* xr = x.row_ptr<const float>(r);
    const float mean = Ops::Sum(xr, C) / static_cast<float>(C);
    const float var = Ops::SumSquaredDeviation(xr, mean, C) / static_cast<float>(C);
    Ops::Normalize(y.row_ptr<float>(r), xr, mean, 1.0f / std::sqrt(var + eps), g, b, C);
  }
}

template <typename Ops>
GF_INLINE void RmsNormRows(const TensorView& x, const TensorView& y, float eps) {
  const int64_t C = x.cols();
  for (int64_t r = 0; r < x.rows(); ++r) {
    const float* xr = x.row_ptr<const float>(r);
    const float mean_square = Ops::SumSquaredDeviation(xr, 0.0f, C) / static_cast<float>(C);
    Ops::ScaleTo(y.row_ptr<float>(r), xr, 1.0f / (std::sqrt(mean_square) + eps), C);
  }
}

GF_TARGET_AVX2 void LayerNormAvx2(const TensorView& x, const TensorView& gamma,
                                  const TensorView& beta, const TensorView& y, float eps) {
  LayerNormRows<Avx2Ops>(x, gamma, beta, y, eps);
}
GF_TARGET_AVX2 void RmsNormAvx2(const TensorView& x, const TensorView& y, float eps) {
  RmsNormRows<Avx2Ops>(x, y, eps);
}

}  // namespace

void LayerNorm(const TensorView& x, const TensorView& gamma, const TensorView& beta,
               const TensorView& y, float eps) {
  if (HasAvx2Fma()) {
    LayerNormAvx2(x, gamma, beta, y, eps);
  } else {
    LayerNormRows<ScalarOps>(x, gamma, beta, y, eps);
  }
}

void RmsNorm(const TensorView& x, const TensorView& y, float eps) {
  if (HasAvx2Fma()) {
    RmsNormAvx2(x, y, eps);
  } else {
    RmsNormRows<ScalarOps>(x, y, eps);
  }
}

}  // namespace gf::kernels::cpu
