// CPU token shift and elementwise ops on F32 matrices (row by row, honouring row strides).
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"

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

void Tanh(const TensorView& x) {
  ForEachRow(x, [](float* row, int64_t, int64_t n) {
    for (int64_t c = 0; c < n; ++c) row[c] = std::tanh(row[c]);
  });
}

void Sigmoid(const TensorView& x) {
  ForEachRow(x, [](float* row, int64_t, int64_t n) {
    for (int64_t c = 0; c < n; ++c) row[c] = 1.0f / (1.0f + std::exp(-row[c]));
  });
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

void DecayKeyScale(const TensorView& k, const TensorView& w_hat) {
  ForEachRow(k, [&w_hat](float* row, int64_t r, int64_t n) {
    const float* wr = w_hat.row_ptr<const float>(r);
    // 1 - exp(-e) computed as -expm1(-e) keeps full relative accuracy for weak decays.
    for (int64_t c = 0; c < n; ++c) row[c] *= -std::expm1(-std::exp(wr[c]));
  });
}

}  // namespace gf::kernels::cpu
