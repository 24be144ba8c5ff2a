// Prefill and decode invariants on random-weight models with more GOLD layers than the golden
// cases (G = 3 and 4): the tail-only GOLD schedule equals running GOLD over every position, any
// chunking equals one call, a prefill chunk continuing a decoded state is exact, the chunked and
// step WKV forms agree inside the model, and mixed batches (a prefill chunk beside decode steps)
// give each sequence what it gets alone.
#include <random>

#include "engine/model/random_weights.h"
#include "tests/golden_fixture.h"

namespace gf::testing {
namespace {

struct ModelCase {
  int n_layer, n_embd, vocab;
};

class PrefillTest : public ::testing::TestWithParam<ModelCase> {
 protected:
  void SetUp() override {
    ModelConfig cfg = RandomConfig(GetParam().n_layer, GetParam().n_embd, GetParam().vocab);
    auto weights = MakeRandomWeights(cfg, kernels::DType::kF32, 42);
    ASSERT_TRUE(weights.ok()) << weights.status().ToString();
    model_ = std::make_unique<GoldFinchModel>(std::move(*weights));
    std::mt19937 rng(7);
    for (int i = 0; i < 70; ++i) prompt_.push_back(static_cast<int32_t>(rng() % GetParam().vocab));
  }

  std::vector<float> AllLogits(std::span<const int32_t> tokens, SequenceState* state_out = nullptr) {
    SequenceState state = model_->NewState();
    std::vector<float> logits;
    PrefillOptions opts;
    opts.all_logits = true;
    opts.chunk_tokens = 1 << 20;
    EXPECT_TRUE(model_->Prefill(state, tokens, opts, &logits).ok());
    if (state_out != nullptr) *state_out = std::move(state);
    return logits;
  }

  static double MaxAbs(const float* a, const float* b, size_t n) {
    double m = 0;
    ToleranceRatio(a, b, n, 0, 0, &m);
    return m;
  }
  // Largest |a-b| / (1 + |b|): absolute for small values, relative for large ones.
  static double MaxRel(const float* a, const float* b, size_t n) {
    return ToleranceRatio(a, b, n, 1.0, 1.0);
  }

  void ExpectStatesClose(const SequenceState& a, const SequenceState& b, double tol,
                         const std::string& what) {
    const ModelConfig& cfg = model_->config();
    ASSERT_EQ(a.num_tokens(), b.num_tokens());
    const auto C = static_cast<size_t>(cfg.n_embd);
    for (int l = 0; l < cfg.n_layer; ++l) {
      EXPECT_LE(MaxAbs(a.att_shift(l), b.att_shift(l), C), tol) << what << " att shift " << l;
      EXPECT_LE(MaxAbs(a.ffn_shift(l), b.ffn_shift(l), C), tol) << what << " ffn shift " << l;
      if (l < cfg.first_gold_layer) {
        EXPECT_LE(MaxAbs(a.wkv_state(l), b.wkv_state(l), a.wkv_elements_per_layer()), tol)
            << what << " wkv " << l;
      }
    }
    // Compressed rows sit after 2s GEMM-heavy sublayers whose summation order depends on the
    // batch's row count (BLAS blocking), so they get 10x the state tolerance.
    EXPECT_LE(MaxRel(a.compressed_rows().data(), b.compressed_rows().data(),
                     a.compressed_rows().size()), 10 * tol) << what << " compressed rows";
  }

  std::unique_ptr<GoldFinchModel> model_;
  std::vector<int32_t> prompt_;
};

TEST_P(PrefillTest, TailOnlyGoldEqualsFullGold) {
  const int64_t V = model_->config().vocab_size;
  for (size_t T : {size_t{1}, size_t{2}, size_t{5}, size_t{8}, size_t{9}, size_t{10}, size_t{17},
                   size_t{70}}) {
    std::span<const int32_t> tokens(prompt_.data(), T);
    SequenceState full_state = model_->NewState();
    std::vector<float> full = AllLogits(tokens, &full_state);
    SequenceState tail_state = model_->NewState();
    std::vector<float> tail;
    ASSERT_TRUE(model_->Prefill(tail_state, tokens, PrefillOptions{}, &tail).ok());
    EXPECT_LE(MaxAbs(tail.data(), full.data() + (T - 1) * V, static_cast<size_t>(V)), 1e-4)
        << "T=" << T;
    ExpectStatesClose(tail_state, full_state, 1e-5, "T=" + std::to_string(T));
  }
}

TEST_P(PrefillTest, AnyChunkingEqualsOneCall) {
  const int64_t V = model_->config().vocab_size;
  const auto T = static_cast<int64_t>(prompt_.size());
  SequenceState ref_state = model_->NewState();
  std::vector<float> ref = AllLogits(prompt_, &ref_state);
  std::mt19937 rng(99);
  for (int trial = 0; trial < 8; ++trial) {
    SequenceState state = model_->NewState();
    std::vector<float> logits;
    int64_t pos = 0;
    while (pos < T) {
      const int64_t n = std::min<int64_t>(T - pos, 1 + static_cast<int64_t>(rng() % 13));
      PrefillOptions opts;  // tail-only: only the last logits of each chunk
      ASSERT_TRUE(model_->Prefill(state, std::span<const int32_t>(prompt_).subspan(
                                             static_cast<size_t>(pos), static_cast<size_t>(n)),
                                  opts, &logits).ok());
      pos += n;
      EXPECT_LE(MaxAbs(logits.data(), ref.data() + (pos - 1) * V, static_cast<size_t>(V)), 1e-4)
          << "trial " << trial << " after " << pos;
    }
    ExpectStatesClose(state, ref_state, 1e-4, "trial " + std::to_string(trial));
  }
}

TEST_P(PrefillTest, PrefillAfterDecodeIsExact) {
  const int64_t V = model_->config().vocab_size;
  std::vector<float> ref = AllLogits(prompt_);
  SequenceState state = model_->NewState();
  std::vector<float> logits;
  std::span<const int32_t> p(prompt_);
  ASSERT_TRUE(model_->Prefill(state, p.first(20), PrefillOptions{}, &logits).ok());
  for (size_t i = 20; i < 25; ++i) {
    SequenceState* s[] = {&state};
    ASSERT_TRUE(model_->DecodeStep(s, p.subspan(i, 1), &logits).ok());
  }
  PrefillOptions all;
  all.all_logits = true;
  ASSERT_TRUE(model_->Prefill(state, p.subspan(25), all, &logits).ok());
  EXPECT_LE(MaxAbs(logits.data(), ref.data() + 25 * V, logits.size()), 1e-4);
}

TEST_P(PrefillTest, ChunkedAndStepWkvAgreeInTheModel) {
  const int64_t V = model_->config().vocab_size;
  model_->options().wkv_chunked_min_tokens = 1 << 30;  // step form only
  std::vector<float> step = AllLogits(prompt_);
  model_->options().wkv_chunked_min_tokens = 2;        // chunked form for every span >= 2
  std::vector<float> chunked = AllLogits(prompt_);
  EXPECT_LE(MaxAbs(step.data(), chunked.data(), step.size()), 1e-4);
  (void)V;
}

TEST_P(PrefillTest, MixedBatchEqualsSoloRuns) {
  const int64_t V = model_->config().vocab_size;
  std::span<const int32_t> p(prompt_);
  // Three sequences: one decoding at length 30, one prefilling a 17-token chunk after 10 tokens
  // (all logits), one prefilling 40 fresh tokens (last logits only).
  auto make = [&](size_t n) {
    SequenceState s = model_->NewState();
    std::vector<float> l;
    if (n > 0) {
      EXPECT_TRUE(model_->Prefill(s, p.first(n), PrefillOptions{}, &l).ok());
    }
    return s;
  };
  SequenceState a = make(30), b = make(10), c = make(0);
  SequenceState a2 = a, b2 = b, c2 = c;
  std::vector<float> la(static_cast<size_t>(V)), lb(static_cast<size_t>(17 * V)),
      lc(static_cast<size_t>(V));
  ForwardSegment segs[3];
  segs[0] = {&a, p.subspan(30, 1), LogitsMode::kLast, la.data()};
  segs[1] = {&b, p.subspan(10, 17), LogitsMode::kAll, lb.data()};
  segs[2] = {&c, p.first(40), LogitsMode::kLast, lc.data()};
  ASSERT_TRUE(model_->Forward(segs).ok());

  std::vector<float> ra(la.size()), rb(lb.size()), rc(lc.size());
  ForwardSegment solo_a = {&a2, p.subspan(30, 1), LogitsMode::kLast, ra.data()};
  ForwardSegment solo_b = {&b2, p.subspan(10, 17), LogitsMode::kAll, rb.data()};
  ForwardSegment solo_c = {&c2, p.first(40), LogitsMode::kLast, rc.data()};
  ASSERT_TRUE(model_->Forward(std::span<const ForwardSegment>(&solo_a, 1)).ok());
  ASSERT_TRUE(model_->Forward(std::span<const ForwardSegment>(&solo_b, 1)).ok());
  ASSERT_TRUE(model_->Forward(std::span<const ForwardSegment>(&solo_c, 1)).ok());
  EXPECT_LE(MaxAbs(la.data(), ra.data(), la.size()), 1e-4);
  EXPECT_LE(MaxAbs(lb.data(), rb.data(), lb.size()), 1e-4);
  EXPECT_LE(MaxAbs(lc.data(), rc.data(), lc.size()), 1e-4);
  ExpectStatesClose(a, a2, 1e-5, "a");
  ExpectStatesClose(b, b2, 1e-5, "b");
  ExpectStatesClose(c, c2, 1e-5, "c");
}

TEST_P(PrefillTest, ForkedStatesAreIndependent) {
  std::span<const int32_t> p(prompt_);
  SequenceState a = model_->NewState();
  std::vector<float> la, lb, ref;
  ASSERT_TRUE(model_->Prefill(a, p.first(12), PrefillOptions{}, &la).ok());
  SequenceState b = a;  // fork
  ASSERT_TRUE(model_->Prefill(a, p.subspan(12, 5), PrefillOptions{}, &la).ok());
  ASSERT_TRUE(model_->Prefill(b, p.subspan(40, 3), PrefillOptions{}, &lb).ok());
  SequenceState c = model_->NewState();
  ASSERT_TRUE(model_->Prefill(c, p.first(17), PrefillOptions{}, &ref).ok());
  EXPECT_LE(MaxAbs(la.data(), ref.data(), la.size()), 1e-4);
  EXPECT_EQ(b.num_tokens(), 15);
  EXPECT_EQ(a.num_tokens(), 17);
}

INSTANTIATE_TEST_SUITE_P(RandomModels, PrefillTest,
                         ::testing::Values(ModelCase{9, 128, 300},   // s=6, G=3, H=2
                                           ModelCase{12, 64, 200}),  // s=8, G=4, H=1
                         [](const auto& param_info) {
                           return "L" + std::to_string(param_info.param.n_layer) + "_D" +
                                  std::to_string(param_info.param.n_embd);
                         });

}  // namespace
}  // namespace gf::testing
