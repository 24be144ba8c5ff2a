// Tests for RandomConfig and MakeRandomWeights (engine/model/random_weights.h): every view has
// the loader's shape, dtype and alignment; values follow the documented distributions; the
// bytes depend only on (config, dtype, seed); and the forward pass on them stays finite.
#include "engine/model/random_weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/model/goldfinch.h"
#include "kernels/kernels.h"

namespace gf {
namespace {

using kernels::DType;

// One expected tensor: its view and the shape the layout documents ([rows, cols] matrix in the
// matrix dtype, or an F32 vector of `cols` when rows == 0).
struct Expected {
  std::string name;
  const TensorView* view;
  int64_t rows, cols;
};

std::vector<Expected> ExpectedViews(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  const int64_t C = c.n_embd, A = c.dim_att, F = c.dim_ffn, V = c.vocab_size;
  const int64_t cd = c.compressed_dim, Dg = c.gold_lora_dim;
  std::vector<Expected> e = {{"emb", &w.emb, V, C},
                             {"ln0.w", &w.ln0.weight, 0, C},
                             {"ln0.b", &w.ln0.bias, 0, C}};
  for (size_t i = 0; i < w.blocks.size(); ++i) {
    const BlockWeights& b = w.blocks[i];
    const std::string p = "blocks." + std::to_string(i) + ".";
    auto add = [&](const std::string& n, const TensorView& v, int64_t r, int64_t cols) {
      e.push_back({p + n, &v, r, cols});
    };
    add("ln1.w", b.ln1.weight, 0, C);
    add("ln1.b", b.ln1.bias, 0, C);
    add("ln2.w", b.ln2.weight, 0, C);
    add("ln2.b", b.ln2.bias, 0, C);
    add("ffn.mu_k", b.ffn.mu_k, 0, C);
    add("ffn.mu_r", b.ffn.mu_r, 0, C);
    add("ffn.key", b.ffn.key, F, C);
    add("ffn.receptance", b.ffn.receptance, C, C);
    add("ffn.value", b.ffn.value, C, F);
    if (!b.is_gold) {
      const FinchC2Weights& f = b.finch;
      for (const TensorView* mu : {&f.mu_x, &f.mu_r, &f.mu_k, &f.mu_v, &f.mu_w, &f.mu_v2}) add("mu", *mu, 0, C);
      add("maa_w1", f.maa_w1, 160, C);
      for (const TensorView& up : f.maa_w2) add("maa_w2", up, C, 32);
      add("decay", f.decay, 0, A);
      add("decay_w1", f.decay_w1, 64, C);
      add("decay_w2", f.decay_w2, A, 64);
      add("value2_w1", f.value2_w1, 64, C);
      add("value2_w2", f.value2_w2, A, 64);
      add("receptance", f.receptance, A, C);
      add("key", f.key, A, C);
      add("value", f.value, A, C);
      add("output", f.output, C, A);
      add("ln_x.w", f.ln_x.weight, 0, A);
      add("ln_x.b", f.ln_x.bias, 0, A);
    } else {
      const GoldWeights& g = b.gold;
      for (const TensorView* mu : {&g.mu_x, &g.mu_q, &g.mu_v_cache, &g.mu_k, &g.mu_v}) add("mu", *mu, 0, C);
      add("q_w1", g.q_w1, 32, C);
      add("q_w2", g.q_w2, C, 32);
      add("kv_w1", g.kv_w1, 64, C);
      add("kv_w2.k", g.kv_w2[0], C, 32);
      add("kv_w2.v", g.kv_w2[1], C, 32);
      add("key_w1", g.key_w1, Dg, C);
      add("key_w2", g.key_w2, A, Dg);
      add("value_w1", g.value_w1, Dg, C);
      add("value_w2", g.value_w2, A, Dg);
      add("query", g.query, A, C);
      add("output", g.output, C, A);
      for (const LayerNormWeights* ln : {&g.ln_q, &g.ln_k, &g.ln_v, &g.ln_x}) {
        add("ln.w", ln->weight, 0, A);
        add("ln.b", ln->bias, 0, A);
      }
    }
  }
  e.push_back({"ln_out.w", &w.ln_out.weight, 0, C});
  e.push_back({"ln_out.b", &w.ln_out.bias, 0, C});
  e.push_back({"head", &w.head, V, C});
  e.push_back({"kv_cache_a", &w.kv_cache_a, cd, C});
  return e;
}

// Reads element i of a contiguous F32 or BF16 view.
float At(const TensorView& v, int64_t i) {
  if (v.dtype == DType::kBF16) return kernels::Bf16ToF32(v.ptr<uint16_t>()[i]);
  return v.ptr<float>()[i];
}

struct Stats {
  double mean = 0, stddev = 0, min = 1e30, max = -1e30;
};
Stats StatsOf(const TensorView& v) {
  Stats s;
  double sum = 0, sum2 = 0;
  const int64_t n = v.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(At(v, i));
    sum += x;
    sum2 += x * x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean = sum / static_cast<double>(n);
  s.stddev = std::sqrt(sum2 / static_cast<double>(n) - s.mean * s.mean);
  return s;
}

ModelConfig SmallConfig() { return RandomConfig(4, 128, 512); }

TEST(RandomConfigTest, DerivesThePaperShapes) {
  ModelConfig c = RandomConfig(12, 768);
  ASSERT_TRUE(c.Finalize().ok());
  EXPECT_EQ(c.name, "random-L12-D768");
  EXPECT_EQ(c.dim_att, 768);
  EXPECT_EQ(c.dim_ffn, 2688);
  EXPECT_EQ(c.n_head, 12);
  EXPECT_EQ(c.head_size, 64);
  EXPECT_EQ(c.first_gold_layer, 8);
  EXPECT_EQ(c.n_gold, 4);
  EXPECT_EQ(c.compressed_dim, 48);
  EXPECT_EQ(c.gold_lora_dim, 64);
  EXPECT_EQ(c.vocab_size, 65536);
  EXPECT_EQ(c.tokenizer, TokenizerKind::kWorld);

  ModelConfig small = SmallConfig();
  ASSERT_TRUE(small.Finalize().ok());
  EXPECT_EQ(small.tokenizer, TokenizerKind::kByte);
  EXPECT_EQ(small.first_gold_layer, 2);
  EXPECT_EQ(small.n_gold, 2);
  EXPECT_EQ(small.dim_ffn, 448);
  EXPECT_EQ(small.compressed_dim, 8);
}

class RandomWeightsDtypeTest : public ::testing::TestWithParam<DType> {};

TEST_P(RandomWeightsDtypeTest, EveryViewHasTheLoaderLayout) {
  const DType dtype = GetParam();
  auto made = MakeRandomWeights(SmallConfig(), dtype, 7);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const ModelWeights& w = *made;
  const ModelConfig& c = w.config;
  EXPECT_EQ(c.first_gold_layer, 2);  // the weights carry the finalized config
  EXPECT_EQ(w.matrix_dtype, dtype);
  ASSERT_EQ(w.blocks.size(), 4u);
  EXPECT_FALSE(w.blocks[1].is_gold);
  EXPECT_TRUE(w.blocks[2].is_gold);
  EXPECT_FALSE(w.arenas.empty());

  size_t bytes = 0;
  for (const Expected& e : ExpectedViews(w)) {
    const TensorView& v = *e.view;
    ASSERT_NE(v.data, nullptr) << e.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % 64, 0u) << e.name;
    if (e.rows == 0) {
      EXPECT_EQ(v.rank, 1) << e.name;
      EXPECT_EQ(v.dtype, DType::kF32) << e.name;
      EXPECT_EQ(v.shape[0], e.cols) << e.name;
    } else {
      EXPECT_EQ(v.rank, 2) << e.name;
      EXPECT_EQ(v.dtype, dtype) << e.name;
      EXPECT_EQ(v.shape[0], e.rows) << e.name;
      EXPECT_EQ(v.shape[1], e.cols) << e.name;
      EXPECT_EQ(v.ld(), e.cols) << e.name;
    }
    bytes += static_cast<size_t>(v.numel()) * kernels::DTypeSize(v.dtype);
  }
  // w_kv_cache_b [A, C + c] split into its two column blocks.
  const int64_t C = c.n_embd, A = c.dim_att, cd = c.compressed_dim;
  EXPECT_EQ(w.kv_cache_b_x0.dtype, dtype);
  EXPECT_EQ(w.kv_cache_b_x0.shape[0], A);
  EXPECT_EQ(w.kv_cache_b_x0.shape[1], C);
  EXPECT_EQ(w.kv_cache_b_x0.ld(), C + cd);
  EXPECT_EQ(w.kv_cache_b_c.shape[0], A);
  EXPECT_EQ(w.kv_cache_b_c.shape[1], cd);
  EXPECT_EQ(w.kv_cache_b_c.ld(), C + cd);
  EXPECT_EQ(static_cast<const uint8_t*>(w.kv_cache_b_c.data),
            static_cast<const uint8_t*>(w.kv_cache_b_x0.data) + C * static_cast<int64_t>(kernels::DTypeSize(dtype)));
  bytes += static_cast<size_t>(A * (C + cd)) * kernels::DTypeSize(dtype);
  EXPECT_EQ(w.bytes, bytes);

  // The same count from the doc's parameter formulas (section 2.5, without time_faaaa): matrices
  // in the matrix dtype, vectors in F32.
  const int64_t F = c.dim_ffn, V = c.vocab_size, Dg = c.gold_lora_dim, s = c.first_gold_layer, G = c.n_gold;
  const int64_t matrices = 2 * V * C + cd * C + A * (C + cd) + 4 * (2 * C * F + C * C) +
                           s * (4 * A * C + 448 * C + 128 * A) + G * (2 * A * C + 192 * C + 2 * Dg * (C + A));
  const int64_t vectors = 4 * C + 4 * 6 * C + s * (6 * C + 3 * A) + G * (5 * C + 8 * A);
  EXPECT_EQ(w.bytes, static_cast<size_t>(matrices) * kernels::DTypeSize(dtype) + static_cast<size_t>(vectors) * 4);
}

TEST_P(RandomWeightsDtypeTest, PrefillAndDecodeGiveFiniteLogits) {
  auto made = MakeRandomWeights(SmallConfig(), GetParam(), 11);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  GoldFinchModel model(std::move(made).value());
  const int64_t V = model.config().vocab_size;

  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back((i * 7919) % static_cast<int32_t>(V));
  SequenceState state = model.NewState();
  PrefillOptions opts;
  opts.chunk_tokens = 16;  // three Forward calls
  std::vector<float> logits;
  ASSERT_TRUE(model.Prefill(state, prompt, opts, &logits).ok());
  ASSERT_EQ(logits.size(), static_cast<size_t>(V));
  double spread = 0;
  for (float v : logits) {
    ASSERT_TRUE(std::isfinite(v));
    spread = std::max(spread, std::fabs(static_cast<double>(v - logits[0])));
  }
  EXPECT_GT(spread, 1e-3);  // not a degenerate (constant) output
  EXPECT_EQ(state.num_tokens(), 40);

  // Two forks of the prefix decode the same token to the same logits, and stay finite.
  SequenceState fork_a = state, fork_b = state;
  std::vector<SequenceState*> states = {&fork_a, &fork_b};
  const std::vector<int32_t> tokens = {5, 5};
  for (int step = 0; step < 3; ++step) {
    ASSERT_TRUE(model.DecodeStep(states, tokens, &logits).ok());
    ASSERT_EQ(logits.size(), static_cast<size_t>(2 * V));
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
    for (int64_t i = 0; i < V; ++i) ASSERT_EQ(logits[static_cast<size_t>(i)], logits[static_cast<size_t>(V + i)]);
  }
  EXPECT_EQ(fork_a.num_tokens(), 43);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, RandomWeightsDtypeTest, ::testing::Values(DType::kF32, DType::kBF16),
                         [](const ::testing::TestParamInfo<DType>& param_info) {
                           return std::string(kernels::DTypeName(param_info.param));
                         });

bool SameBytes(const ModelWeights& a, const ModelWeights& b) {
  const auto va = ExpectedViews(a), vb = ExpectedViews(b);
  if (va.size() != vb.size()) return false;
  for (size_t i = 0; i < va.size(); ++i) {
    const TensorView& x = *va[i].view;
    const TensorView& y = *vb[i].view;
    const size_t n = static_cast<size_t>(x.numel()) * kernels::DTypeSize(x.dtype);
    if (y.numel() != x.numel() || std::memcmp(x.data, y.data, n) != 0) return false;
  }
  const auto rows = static_cast<size_t>(a.kv_cache_b_x0.rows());
  const size_t row_bytes = static_cast<size_t>(a.kv_cache_b_x0.ld()) * kernels::DTypeSize(a.matrix_dtype);
  return std::memcmp(a.kv_cache_b_x0.data, b.kv_cache_b_x0.data, rows * row_bytes) == 0;
}

TEST(RandomWeightsTest, SameSeedGivesIdenticalWeightsForAnyThreadCount) {
  const int saved = kernels::NumThreads();
  kernels::SetNumThreads(1);
  auto a = MakeRandomWeights(SmallConfig(), DType::kF32, 42);
  kernels::SetNumThreads(3);
  auto b = MakeRandomWeights(SmallConfig(), DType::kF32, 42);
  auto other = MakeRandomWeights(SmallConfig(), DType::kF32, 43);
  kernels::SetNumThreads(saved);
  ASSERT_TRUE(a.ok() && b.ok() && other.ok());
  EXPECT_NE(a->emb.data, b->emb.data);  // separate arenas
  EXPECT_TRUE(SameBytes(*a, *b));
  EXPECT_FALSE(SameBytes(*a, *other));
  EXPECT_NE(std::memcmp(a->head.data, other->head.data, 64), 0);
}

TEST(RandomWeightsTest, Bf16WeightsAreTheRoundedF32Weights) {
  auto f = MakeRandomWeights(SmallConfig(), DType::kF32, 5);
  auto h = MakeRandomWeights(SmallConfig(), DType::kBF16, 5);
  ASSERT_TRUE(f.ok() && h.ok());
  const auto vf = ExpectedViews(*f), vh = ExpectedViews(*h);
  ASSERT_EQ(vf.size(), vh.size());
  for (size_t i = 0; i < vf.size(); ++i) {
    const TensorView& x = *vf[i].view;
    const TensorView& y = *vh[i].view;
    ASSERT_EQ(x.numel(), y.numel());
    for (int64_t j = 0; j < x.numel(); ++j) {
      const float expected = y.dtype == DType::kBF16 ? kernels::Bf16ToF32(kernels::F32ToBf16(At(x, j))) : At(x, j);
      ASSERT_EQ(At(y, j), expected) << vf[i].name << "[" << j << "]";
    }
  }
}

TEST(RandomWeightsTest, ValuesFollowTheDocumentedDistributions) {
  auto made = MakeRandomWeights(SmallConfig(), DType::kF32, 3);
  ASSERT_TRUE(made.ok());
  const ModelWeights& w = *made;
  const FinchC2Weights& f = w.blocks[0].finch;
  const double C = w.config.n_embd, F = w.config.dim_ffn;

  const Stats decay = StatsOf(f.decay);
  EXPECT_GE(decay.min, -5.0);
  EXPECT_LT(decay.max, 0.0);
  for (const TensorView* mu : {&f.mu_x, &f.mu_w, &w.blocks[3].gold.mu_v_cache, &w.blocks[1].ffn.mu_k}) {
    const Stats s = StatsOf(*mu);
    EXPECT_GE(s.min, 0.0);
    EXPECT_LT(s.max, 1.0);
    EXPECT_NEAR(s.mean, 0.5, 0.1);
  }
  const Stats ln = StatsOf(w.blocks[2].ln1.weight);
  EXPECT_NEAR(ln.mean, 1.0, 0.06);
  EXPECT_NEAR(ln.stddev, 0.2, 0.04);

  // Large matrices: the standard deviation to within a few percent, the mean near zero.
  struct Case {
    const TensorView* view;
    double stddev;
  };
  const Case cases[] = {
      {&w.emb, 1.0},
      {&w.blocks[1].ffn.key, 1.0 / std::sqrt(C)},
      {&w.blocks[1].ffn.value, 1.0 / std::sqrt(F)},
      {&w.head, 1.0 / std::sqrt(C)},
      {&f.maa_w1, 0.5 / std::sqrt(C)},
      {&f.decay_w2, 0.1},
      {&w.blocks[3].gold.key_w1, 0.5 / std::sqrt(C)},
  };
  for (const Case& c : cases) {
    const Stats s = StatsOf(*c.view);
    EXPECT_NEAR(s.stddev, c.stddev, 0.04 * c.stddev);
    EXPECT_NEAR(s.mean, 0.0, 0.05 * c.stddev);
    EXPECT_LE(s.max, 3.47 * c.stddev);  // the sum-of-four-uniforms normal is bounded
    EXPECT_GT(s.max, 2.0 * c.stddev);
  }
}

TEST(RandomWeightsTest, RejectsBadDtypeAndConfig) {
  EXPECT_EQ(MakeRandomWeights(SmallConfig(), DType::kF16, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeRandomWeights(RandomConfig(4, 100, 512), DType::kF32, 1).status().code(),
            StatusCode::kInvalidArgument);  // not a multiple of 32
  EXPECT_EQ(MakeRandomWeights(RandomConfig(1, 128, 512), DType::kF32, 1).status().code(),
            StatusCode::kInvalidArgument);  // no Finch-C2 layer
}

}  // namespace
}  // namespace gf
