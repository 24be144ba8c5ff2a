// Tests for the work and traffic counts of engine/model/cost_model.h against the numbers of the
// model doc (sections 5.2 and 6.1, L12-D768 and L24-D2048) and against a step-by-step count of
// the engine's prefill schedule.
#include "engine/model/cost_model.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "engine/model/random_weights.h"

namespace gf {
namespace {

ModelConfig Finalized(int n_layer, int n_embd) {
  ModelConfig c = RandomConfig(n_layer, n_embd);
  EXPECT_TRUE(c.Finalize().ok());
  return c;
}

TEST(CostModelTest, LayerCostsMatchTheDocTableForL12D768) {
  const LayerCosts k = ComputeLayerCosts(Finalized(12, 768));
  EXPECT_EQ(k.finch_time_mix, 3489792.0);  // 3.49 M
  EXPECT_EQ(k.channel_mix, 4718592.0);     // 4.72 M
  EXPECT_EQ(k.gold_query, 1228800.0);      // 1.23 M
  EXPECT_EQ(k.gold_kv, 294912.0);          // 0.295 M
  EXPECT_EQ(k.tokencat, 663552.0);         // 0.664 M
  EXPECT_EQ(k.attention_pair, 1536.0);
  EXPECT_EQ(k.head, 50331648.0);  // 50.3 M
}

TEST(CostModelTest, LayerCostsMatchTheDocTableForL24D2048) {
  const LayerCosts k = ComputeLayerCosts(Finalized(24, 2048));
  EXPECT_EQ(k.finch_time_mix, 22413312.0);  // 22.41 M
  EXPECT_EQ(k.channel_mix, 33554432.0);     // 33.55 M
  EXPECT_EQ(k.gold_query, 8519680.0);       // 8.52 M
  EXPECT_EQ(k.gold_kv, 1310720.0);          // 1.311 M
  EXPECT_EQ(k.tokencat, 4718592.0);         // 4.719 M
  EXPECT_EQ(k.attention_pair, 4096.0);
  EXPECT_EQ(k.head, 134217728.0);  // 134.2 M
}

TEST(CostModelTest, PrefillPerTokenAndDecodeStepMatchTheDoc) {
  const ModelConfig small = Finalized(12, 768);
  const ModelConfig big = Finalized(24, 2048);
  EXPECT_EQ(PrefillLinearMacsPerToken(small), 67510272.0);
  EXPECT_EQ(PrefillLinearMacsPerToken(big), 910688256.0);  // "about 910.7 M MACs per prompt token"
  // M_dec (141.6 M and 1,381.5 M) plus G * 2A * (position + 1) of attention.
  EXPECT_EQ(DecodeStepMacs(small, 0), 141631488.0 + 4 * 1536.0);
  EXPECT_EQ(DecodeStepMacs(big, 99), 1381498880.0 + 8 * 4096.0 * 100);
}

TEST(CostModelTest, RematerializeCountsDecompressionAndGoldKvOnly) {
  // A (C + c) + G M_gkv per position: 768 * 816 + 4 * 294,912 for L12 (no W_a, no Finch stack).
  EXPECT_EQ(RematerializeMacs(Finalized(12, 768), 1), 626688.0 + 4 * 294912.0);
  EXPECT_EQ(RematerializeMacs(Finalized(12, 768), 16384), 16384 * 1806336.0);
  EXPECT_EQ(RematerializeMacs(Finalized(24, 2048), 10), 10 * (2048.0 * 2176 + 8 * 1310720.0));
}

TEST(CostModelTest, RecurrentStateMatchesTheDoc) {
  EXPECT_EQ(RecurrentStateElements(Finalized(12, 768)), 413184);
  EXPECT_EQ(RecurrentStateElements(Finalized(24, 2048)), 2199552);
}

TEST(CostModelTest, PrefillCountsEveryChunksGoldWindow) {
  const ModelConfig c = Finalized(12, 768);  // G = 4: windows of 9 rows
  const LayerCosts k = ComputeLayerCosts(c);
  // 20 tokens in chunks of 8 from position 3: calls of 8, 8 and 4 rows; windows 8, 8 and 4.
  const PrefillCost cost = PrefillMacs(c, 3, 20, 8);
  EXPECT_EQ(cost.linear, 20 * PrefillLinearMacsPerToken(c));
  EXPECT_EQ(cost.head, k.head);
  double tail = 0;
  struct Window {
    int64_t first, rows;
  };
  for (const Window win : {Window{3, 8}, Window{11, 8}, Window{19, 4}}) {
    for (int64_t p = win.first; p < win.first + win.rows; ++p) {
      tail += 4 * (k.gold_query + k.channel_mix + k.attention_pair * static_cast<double>(p + 1));
    }
  }
  EXPECT_EQ(cost.tail, tail);
  EXPECT_EQ(cost.total(), cost.linear + cost.tail + cost.head);

  // One call of 100 tokens: only the last 9 rows pass through the GOLD layers.
  const PrefillCost whole = PrefillMacs(c, 0, 100, 512);
  double window_tail = 0;
  for (int64_t p = 91; p < 100; ++p) {
    window_tail +=
        4 * (k.gold_query + k.channel_mix + k.attention_pair * static_cast<double>(p + 1));
  }
  EXPECT_EQ(whole.tail, window_tail);
  EXPECT_EQ(PrefillMacs(c, 0, 0, 512).total(), 0.0);
}

TEST(CostModelTest, DecodeTrafficCountsWeightsStateAndKv) {
  auto made = MakeRandomWeights(RandomConfig(4, 128, 512), kernels::DType::kBF16, 1);
  ASSERT_TRUE(made.ok());
  const ModelWeights& w = *made;
  const ModelConfig& c = w.config;
  const DecodeTraffic t = DecodeStepBytes(w, 3, 9);
  const double emb = 512.0 * 128 * 2;
  EXPECT_EQ(t.weights, static_cast<double>(w.bytes) - emb + 3 * 128 * 2);
  EXPECT_EQ(t.state, 3 * 2 * 4.0 * static_cast<double>(RecurrentStateElements(c)));
  EXPECT_EQ(t.kv, 3 * 10 * 128 * 2.0 * c.n_gold * 2);  // 10 rows of K and V per GOLD layer
  EXPECT_EQ(t.total(), t.weights + t.state + t.kv);
}

}  // namespace
}  // namespace gf
