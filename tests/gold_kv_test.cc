// The row-block-parallel K/V pass (engine/model/gold_kv.cc) against the one-block pass: the
// same K/V rows and carry rows for F32 and BF16 models, with spans that start and end inside
// blocks (so blocks recompute a halo row) and states that already hold tokens (non-zero carry
// rows, RoPE from a non-zero position). Also: a restored state's Rematerialize (which uses the
// parallel pass) reproduces the prefilled K/V.
// "The same" is up to rounding: OpenBLAS's sgemm sums in an order that depends on M and N (about
// 3% of the elements of a 300x256x256 product change in the last bit when M is split), so F32
// rows must agree to 1e-5 and BF16 rows (rounded after the F32 math) to one BF16 step. A wrong
// halo, shift source, carry row or RoPE position gives errors of order 1.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "engine/model/goldfinch.h"
#include "engine/model/layers.h"
#include "engine/model/random_weights.h"

namespace gf {
namespace {

using kernels::DType;
using kernels::TensorView;

class GoldKvTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    ModelConfig cfg = RandomConfig(6, 256, 1000);  // s = 4 Finch-C2 layers, G = 2 GOLD layers
    auto weights = MakeRandomWeights(cfg, GetParam(), 5);
    ASSERT_TRUE(weights.ok()) << weights.status().ToString();
    model_ = std::make_unique<GoldFinchModel>(std::move(*weights));
  }

  // A state that already holds `prior` tokens (so its carry rows are not zero), or none.
  SequenceState StateWith(int prior, uint32_t seed, int64_t chunk = 512) {
    SequenceState state = model_->NewState();
    std::mt19937 rng(seed);
    std::vector<int32_t> ids;
    for (int i = 0; i < prior; ++i) ids.push_back(static_cast<int32_t>(rng() % 1000));
    std::vector<float> logits;
    PrefillOptions options;
    options.chunk_tokens = chunk;
    if (prior > 0) {
      EXPECT_TRUE(model_->Prefill(state, ids, options, &logits).ok());
    }
    return state;
  }

  static std::vector<float> Floats(const TensorView& v) {
    std::vector<float> out(static_cast<size_t>(v.rows() * v.cols()));
    EXPECT_TRUE(kernels::Convert(v, kernels::MatF32(out.data(), v.rows(), v.cols())).ok());
    return out;
  }

  // Largest |a - b| / (1 + |b|).
  static double MaxError(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double worst = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      const double x = a[i], y = b[i];
      worst = std::max(worst, std::abs(x - y) / (1.0 + std::abs(y)));
    }
    return worst;
  }

  double Tolerance() const { return GetParam() == DType::kBF16 ? 1.0 / 128 : 1e-5; }

  void ExpectKvClose(const SequenceState& a, const SequenceState& b) {
    for (int g = 0; g < model_->config().n_gold; ++g) {
      EXPECT_LE(MaxError(Floats(a.keys(g)), Floats(b.keys(g))), Tolerance())
          << "keys, GOLD layer " << g;
      EXPECT_LE(MaxError(Floats(a.values(g)), Floats(b.values(g))), Tolerance())
          << "values, GOLD layer " << g;
    }
    const auto C = static_cast<size_t>(model_->config().n_embd);
    const auto A = static_cast<size_t>(model_->config().dim_att);
    EXPECT_LE(MaxError({a.carry_o(), a.carry_o() + C}, {b.carry_o(), b.carry_o() + C}), 1e-5);
    EXPECT_LE(MaxError({a.carry_kc(), a.carry_kc() + A}, {b.carry_kc(), b.carry_kc() + A}), 1e-5);
  }

  std::unique_ptr<GoldFinchModel> model_;
};

TEST_P(GoldKvTest, ParallelBlocksEqualOneBlock) {
  const ModelConfig& cfg = model_->config();
  const int64_t C = cfg.n_embd, c = cfg.compressed_dim;
  // Three sequences: 70 + 150 + 45 = 265 rows, so 4 blocks of 66-67 rows whose edges fall inside
  // the first and second spans and whose last block holds the end of one span and all of another.
  const std::vector<int64_t> counts = {70, 150, 45};
  const std::vector<int> priors = {0, 3, 17};
  int64_t rows = 0;
  for (int64_t n : counts) rows += n;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x0(static_cast<size_t>(rows * C)), rows_c(static_cast<size_t>(rows * c));
  for (float& v : x0) v = normal(rng);
  for (float& v : rows_c) v = kernels::Bf16ToF32(kernels::F32ToBf16(normal(rng)));
  const TensorView x0_view = kernels::MatF32(x0.data(), rows, C);
  const TensorView c_view = kernels::MatF32(rows_c.data(), rows, c);

  std::vector<SequenceState> one, blocks;
  for (size_t i = 0; i < counts.size(); ++i) {
    one.push_back(StateWith(priors[i], static_cast<uint32_t>(i + 1)));
    blocks.push_back(StateWith(priors[i], static_cast<uint32_t>(i + 1)));
  }
  auto spans_of = [&](std::vector<SequenceState>& states) {
    std::vector<model::RowSpan> spans;
    int64_t begin = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      spans.push_back({begin, counts[i], &states[i], true, states[i].num_tokens()});
      begin += counts[i];
    }
    return spans;
  };
  model::Workspace ws;
  const model::GoldKvF32Matrices f32(model_->weights());
  const model::LayerContext one_ctx{cfg, ws, 16, nullptr};
  const model::LayerContext block_ctx{cfg, ws, 16, &f32.views()};
  ASSERT_TRUE(
      model::GoldKvFromCompressed(one_ctx, model_->weights(), x0_view, c_view, spans_of(one)).ok());
  ASSERT_TRUE(
      model::GoldKvFromCompressed(block_ctx, model_->weights(), x0_view, c_view, spans_of(blocks))
          .ok());

  for (size_t i = 0; i < counts.size(); ++i) {
    SCOPED_TRACE("sequence " + std::to_string(i));
    ASSERT_EQ(one[i].kv_rows(), priors[i] + counts[i]);
    ASSERT_EQ(blocks[i].kv_rows(), priors[i] + counts[i]);
    ExpectKvClose(blocks[i], one[i]);
  }
  // The pass did real work: the last sequence's keys differ between its first and last new rows.
  const TensorView k0 = blocks[2].keys(0);
  EXPECT_GT(MaxError(Floats(k0.RowSlice(priors[2], 1)), Floats(k0.RowSlice(k0.rows() - 1, 1))),
            0.1);
}

TEST_P(GoldKvTest, RematerializeReproducesPrefilledKv) {
  // 300 tokens prefilled in chunks of 128, 128 and 44 rows (two parallel passes of two blocks,
  // one single-block pass), then K/V dropped and rebuilt in one pass of four blocks.
  SequenceState state = StateWith(300, 9, 128);
  SequenceState rebuilt = state;
  rebuilt.DropKv();
  ASSERT_TRUE(model_->Rematerialize(rebuilt).ok());
  ExpectKvClose(rebuilt, state);
}

std::string DtypeName(const ::testing::TestParamInfo<DType>& param) {
  return kernels::DTypeName(param.param);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GoldKvTest, ::testing::Values(DType::kF32, DType::kBF16),
                         DtypeName);

}  // namespace
}  // namespace gf
