// Shared fixture for the golden tests: loads a public golden case (model + reference outputs)
// from ../shared/golden and offers comparisons with the golden tolerance
// |engine - ref| <= atol + rtol * |ref|.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/goldfinch.h"
#include "engine/model/safetensors.h"
#include "tests/test_support.h"

namespace gf::testing {

inline const std::vector<std::string>& GoldenCaseNames() {
  static const std::vector<std::string> names = {"gf_L4_D64_hs32_V256_T23",
                                                 "gf_L6_D128_hs64_V1000_T47",
                                                 "gf_L5_D96_hs32_V512_T64_rope10k"};
  return names;
}

struct GoldenCase {
  std::string name;
  std::unique_ptr<GoldFinchModel> model;
  std::unique_ptr<SafetensorsFile> cases;
  std::vector<int32_t> prompt;
  std::vector<float> prompt_logits;  // [T, V]
  std::vector<int32_t> gen_tokens;
  std::vector<float> gen_logits;     // [G, V]
  int64_t vocab = 0;

  std::vector<float> Ref(const std::string& tensor) const {
    auto v = cases->ReadF32(tensor);
    EXPECT_TRUE(v.ok()) << tensor << ": " << v.status().ToString();
    return v.ok() ? *v : std::vector<float>{};
  }
};

inline std::unique_ptr<GoldenCase> LoadGoldenCase(const std::string& name,
                                                  kernels::DType dtype = kernels::DType::kF32) {
  auto gc = std::make_unique<GoldenCase>();
  gc->name = name;
  WeightLoadOptions options;
  options.matrix_dtype = dtype;
  auto model = GoldFinchModel::Load(GoldenCaseDir(name), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return nullptr;
  gc->model = std::move(*model);
  auto cases = SafetensorsFile::Open(GoldenCaseDir(name) + "/cases.safetensors");
  EXPECT_TRUE(cases.ok()) << cases.status().ToString();
  if (!cases.ok()) return nullptr;
  gc->cases = std::make_unique<SafetensorsFile>(std::move(*cases));
  gc->prompt = *gc->cases->ReadI32("prompt.tokens");
  gc->prompt_logits = *gc->cases->ReadF32("prompt.logits");
  gc->gen_tokens = *gc->cases->ReadI32("gen.tokens");
  gc->gen_logits = *gc->cases->ReadF32("gen.logits");
  gc->vocab = gc->model->config().vocab_size;
  return gc;
}

// Largest violation ratio max(|a-b| / (atol + rtol*|b|)); <= 1 means within tolerance.
inline double ToleranceRatio(const float* got, const float* ref, size_t n, double atol,
                             double rtol, double* max_abs = nullptr) {
  double worst = 0, worst_abs = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - static_cast<double>(ref[i]));
    worst_abs = std::max(worst_abs, d);
    worst = std::max(worst, d / (atol + rtol * std::abs(static_cast<double>(ref[i]))));
    if (std::isnan(got[i])) worst = 1e30;
  }
  if (max_abs != nullptr) *max_abs = worst_abs;
  return worst;
}

#define EXPECT_CLOSE_GOLDEN(got_ptr, ref_ptr, n, what)                                   \
  do {                                                                                   \
    double max_abs_ = 0;                                                                 \
    const double ratio_ =                                                                \
        ::gf::testing::ToleranceRatio((got_ptr), (ref_ptr), (n), 1e-4, 1e-4, &max_abs_); \
    EXPECT_LE(ratio_, 1.0) << (what) << ": max |d| = " << max_abs_;                      \
  } while (0)

}  // namespace gf::testing
