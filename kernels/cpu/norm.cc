// CPU LayerNorm and RmsNorm: one row at a time, statistics in F32 (two passes for the variance).
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"

namespace gf::kernels::cpu {

void LayerNorm(const TensorView& x, const TensorView& gamma, const TensorView& beta,
               const TensorView& y, float eps) {
  const int64_t C = x.cols();
  const float* g = gamma.ptr<const float>();
  const float* b = beta.ptr<const float>();
  for (int64_t r = 0; r < x.rows(); ++r) {
    const float* xr = x.row_ptr<const float>(r);
    float* yr = y.row_ptr<float>(r);
    float sum = 0.0f;
    for (int64_t c = 0; c < C; ++c) sum += xr[c];
    const float mean = sum / static_cast<float>(C);
    float sq = 0.0f;
    for (int64_t c = 0; c < C; ++c) {
      const float d = xr[c] - mean;
      sq += d * d;
    }
    const float inv_std = 1.0f / std::sqrt(sq / static_cast<float>(C) + eps);
    for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mean) * inv_std * g[c] + b[c];
  }
}

void RmsNorm(const TensorView& x, const TensorView& y, float eps) {
  const int64_t C = x.cols();
  for (int64_t r = 0; r < x.rows(); ++r) {
    const float* xr = x.row_ptr<const float>(r);
    float* yr = y.row_ptr<float>(r);
    float sq = 0.0f;
    for (int64_t c = 0; c < C; ++c) sq += xr[c] * xr[c];
    const float scale = 1.0f / (std::sqrt(sq / static_cast<float>(C)) + eps);
    for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * scale;
  }
}

}  // namespace gf::kernels::cpu
