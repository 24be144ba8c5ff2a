// The engine against the public golden cases (reference PyTorch implementation, fp32):
// logits of the prompt in one call, token by token and in many chunkings; the state after the
// prompt; compressed rows; greedy generation; serialise/restore at cut points.
#include <cmath>
#include <random>

#include "tests/golden_fixture.h"

namespace gf::testing {
namespace {

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    gc_ = LoadGoldenCase(GetParam());
    ASSERT_NE(gc_, nullptr);
  }

  // Prefills the prompt split into `chunks` (all logits) and checks every row against
  // prompt.logits.
  void CheckChunking(const std::vector<int64_t>& chunks) {
    SequenceState state = gc_->model->NewState();
    const int64_t V = gc_->vocab;
    int64_t pos = 0;
    std::vector<float> logits;
    for (int64_t n : chunks) {
      std::span<const int32_t> part(gc_->prompt.data() + pos, static_cast<size_t>(n));
      PrefillOptions opts;
      opts.all_logits = true;
      opts.chunk_tokens = n;
      ASSERT_TRUE(gc_->model->Prefill(state, part, opts, &logits).ok());
      std::string what = "chunks";
      for (int64_t c : chunks) what += " " + std::to_string(c);
      what += ", chunk at " + std::to_string(pos);
      EXPECT_CLOSE_GOLDEN(logits.data(), gc_->prompt_logits.data() + pos * V,
                          static_cast<size_t>(n * V), what);
      pos += n;
    }
  }

  // Checks a state after the whole prompt against state.* and prompt.kv_cache_a.
  void CheckPromptState(const SequenceState& state) {
    const ModelConfig& cfg = gc_->model->config();
    const auto T = static_cast<int64_t>(gc_->prompt.size());
    ASSERT_EQ(state.num_tokens(), T);
    EXPECT_EQ(std::vector<int32_t>(state.tokens().begin(), state.tokens().end()),
              *gc_->cases->ReadI32("state.input_tokens_cache"));
    auto kv_a = gc_->Ref("prompt.kv_cache_a");
    ASSERT_EQ(kv_a.size(), state.compressed_rows().size());
    EXPECT_CLOSE_GOLDEN(state.compressed_rows().data(), kv_a.data(), kv_a.size(), "kv_cache_a");
    for (int layer = 0; layer < cfg.n_layer; ++layer) {
      const std::string prefix = "state.blocks." + std::to_string(layer);
      auto att = gc_->Ref(prefix + ".att.shift_state");
      auto ffn = gc_->Ref(prefix + ".ffn.shift_state");
      EXPECT_CLOSE_GOLDEN(state.att_shift(layer), att.data(), att.size(), prefix + ".att.shift");
      EXPECT_CLOSE_GOLDEN(state.ffn_shift(layer), ffn.data(), ffn.size(), prefix + ".ffn.shift");
      if (layer < cfg.first_gold_layer) {
        auto wkv = gc_->Ref(prefix + ".att.wkv_state");
        ASSERT_EQ(wkv.size(), state.wkv_elements_per_layer());
        EXPECT_CLOSE_GOLDEN(state.wkv_state(layer), wkv.data(), wkv.size(), prefix + ".wkv");
      }
    }
    // The carry row kc_{T-1} is the last row of the reference's decompressed k_cache.
    auto k_cache = gc_->Ref("state.k_cache");
    EXPECT_CLOSE_GOLDEN(state.carry_kc(), k_cache.data() + (T - 1) * cfg.dim_att,
                        static_cast<size_t>(cfg.dim_att), "carry kc");
  }

  // Greedy generation from a state after the prompt whose last logits are `last_logits`.
  void CheckGreedy(SequenceState& state, std::vector<float> last_logits) {
    const int64_t V = gc_->vocab;
    for (size_t i = 0; i < gc_->gen_tokens.size(); ++i) {
      const auto best = static_cast<int32_t>(
          std::max_element(last_logits.begin(), last_logits.end()) - last_logits.begin());
      ASSERT_EQ(best, gc_->gen_tokens[i]) << "greedy token " << i;
      SequenceState* states[] = {&state};
      int32_t tok[] = {best};
      ASSERT_TRUE(gc_->model->DecodeStep(states, tok, &last_logits).ok());
      EXPECT_CLOSE_GOLDEN(last_logits.data(), gc_->gen_logits.data() + static_cast<int64_t>(i) * V,
                          static_cast<size_t>(V), "gen.logits " + std::to_string(i));
    }
  }

  std::unique_ptr<GoldenCase> gc_;
};

TEST_P(GoldenTest, OneCallAllLogits) {
  CheckChunking({static_cast<int64_t>(gc_->prompt.size())});
}

TEST_P(GoldenTest, OneTokenPerCall) {
  CheckChunking(std::vector<int64_t>(gc_->prompt.size(), 1));
  // The reference's own token-by-token run agrees too.
  auto tbt = gc_->Ref("tbt.logits");
  EXPECT_CLOSE_GOLDEN(tbt.data(), gc_->prompt_logits.data(), tbt.size(), "reference tbt");
}

TEST_P(GoldenTest, AllTwoWaySplits) {
  const auto T = static_cast<int64_t>(gc_->prompt.size());
  for (int64_t first = 1; first < T; ++first) CheckChunking({first, T - first});
}

TEST_P(GoldenTest, RandomSplits) {
  const auto T = static_cast<int64_t>(gc_->prompt.size());
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 24; ++trial) {
    std::vector<int64_t> chunks;
    int64_t left = T;
    while (left > 0) {
      const int64_t n = std::min<int64_t>(left, 1 + static_cast<int64_t>(rng() % 12));
      chunks.push_back(n);
      left -= n;
    }
    CheckChunking(chunks);
  }
}

TEST_P(GoldenTest, StateAfterPromptAllLogits) {
  SequenceState state = gc_->model->NewState();
  std::vector<float> logits;
  PrefillOptions opts;
  opts.all_logits = true;
  ASSERT_TRUE(gc_->model->Prefill(state, gc_->prompt, opts, &logits).ok());
  CheckPromptState(state);
}

TEST_P(GoldenTest, TailOnlyPrefillMatchesFullGold) {
  const int64_t V = gc_->vocab;
  const auto T = static_cast<int64_t>(gc_->prompt.size());
  SequenceState full = gc_->model->NewState();
  SequenceState tail = gc_->model->NewState();
  std::vector<float> full_logits, tail_logits;
  PrefillOptions all;
  all.all_logits = true;
  ASSERT_TRUE(gc_->model->Prefill(full, gc_->prompt, all, &full_logits).ok());
  ASSERT_TRUE(gc_->model->Prefill(tail, gc_->prompt, PrefillOptions{}, &tail_logits).ok());
  ASSERT_EQ(tail_logits.size(), static_cast<size_t>(V));
  EXPECT_CLOSE_GOLDEN(tail_logits.data(), gc_->prompt_logits.data() + (T - 1) * V,
                      static_cast<size_t>(V), "tail-only last logits");
  double max_abs = 0;
  ToleranceRatio(tail_logits.data(), full_logits.data() + (T - 1) * V, static_cast<size_t>(V), 0,
                 0, &max_abs);
  EXPECT_LE(max_abs, 1e-5) << "tail-only vs full GOLD last logits";
  CheckPromptState(tail);
  const ModelConfig& cfg = gc_->model->config();
  for (int layer = cfg.first_gold_layer; layer < cfg.n_layer; ++layer) {
    ToleranceRatio(tail.att_shift(layer), full.att_shift(layer), static_cast<size_t>(cfg.n_embd),
                   0, 0, &max_abs);
    EXPECT_LE(max_abs, 1e-5) << "GOLD att shift, layer " << layer;
    ToleranceRatio(tail.ffn_shift(layer), full.ffn_shift(layer), static_cast<size_t>(cfg.n_embd),
                   0, 0, &max_abs);
    EXPECT_LE(max_abs, 1e-5) << "GOLD ffn shift, layer " << layer;
  }
  // Tail-only prefill in small internal chunks still gives the same result.
  SequenceState chunked = gc_->model->NewState();
  PrefillOptions small;
  small.chunk_tokens = 5;
  ASSERT_TRUE(gc_->model->Prefill(chunked, gc_->prompt, small, &tail_logits).ok());
  EXPECT_CLOSE_GOLDEN(tail_logits.data(), gc_->prompt_logits.data() + (T - 1) * V,
                      static_cast<size_t>(V), "tail-only, chunks of 5");
  CheckPromptState(chunked);
}

TEST_P(GoldenTest, GreedyGeneration) {
  SequenceState state = gc_->model->NewState();
  std::vector<float> logits;
  ASSERT_TRUE(gc_->model->Prefill(state, gc_->prompt, PrefillOptions{}, &logits).ok());
  CheckGreedy(state, logits);
}

TEST_P(GoldenTest, SerializeRestoreAtCutPoints) {
  const int64_t V = gc_->vocab;
  const auto T = static_cast<int64_t>(gc_->prompt.size());
  for (int64_t cut : {int64_t{1}, int64_t{2}, T / 3, T / 2, T - 1, T}) {
    SequenceState state = gc_->model->NewState();
    std::vector<float> logits;
    std::span<const int32_t> prompt(gc_->prompt);
    ASSERT_TRUE(gc_->model->Prefill(state, prompt.first(static_cast<size_t>(cut)),
                                    PrefillOptions{}, &logits).ok());
    const std::string bytes = state.Serialize();
    auto restored = SequenceState::Deserialize(bytes, gc_->model->config(), gc_->model->kv_dtype());
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    EXPECT_FALSE(restored->kv_materialised());
    EXPECT_EQ(restored->Serialize(), bytes) << "round trip is lossless, cut " << cut;
    ASSERT_TRUE(gc_->model->Rematerialize(*restored).ok());
    EXPECT_TRUE(restored->kv_materialised());
    if (cut < T) {
      PrefillOptions all;
      all.all_logits = true;
      ASSERT_TRUE(gc_->model->Prefill(*restored, prompt.subspan(static_cast<size_t>(cut)), all,
                                      &logits).ok());
      EXPECT_CLOSE_GOLDEN(logits.data(), gc_->prompt_logits.data() + cut * V,
                          static_cast<size_t>((T - cut) * V), "continued after cut " +
                          std::to_string(cut));
      logits.erase(logits.begin(), logits.end() - V);
    }
    CheckPromptState(*restored);
    CheckGreedy(*restored, logits);
  }
}

TEST_P(GoldenTest, CorruptStateIsRejected) {
  SequenceState state = gc_->model->NewState();
  std::vector<float> logits;
  ASSERT_TRUE(gc_->model->Prefill(state, gc_->prompt, PrefillOptions{}, &logits).ok());
  std::string bytes = state.Serialize();
  const ModelConfig& cfg = gc_->model->config();
  for (size_t pos : {size_t{0}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
    auto r = SequenceState::Deserialize(bad, cfg, gc_->model->kv_dtype());
    EXPECT_FALSE(r.ok()) << "bit flip at " << pos;
  }
  auto truncated = SequenceState::Deserialize(std::string_view(bytes).substr(0, bytes.size() - 9),
                                              cfg, gc_->model->kv_dtype());
  EXPECT_EQ(truncated.status().code(), StatusCode::kDataLoss);
}

TEST_P(GoldenTest, BatchedDecodeMatchesSingle) {
  // Three sequences of different lengths decoded together give the same logits as alone.
  const int64_t V = gc_->vocab;
  std::span<const int32_t> prompt(gc_->prompt);
  std::vector<SequenceState> states;
  std::vector<float> logits;
  for (size_t len : {size_t{3}, size_t{11}, prompt.size()}) {
    states.push_back(gc_->model->NewState());
    ASSERT_TRUE(gc_->model->Prefill(states.back(), prompt.first(len), PrefillOptions{}, &logits).ok());
  }
  std::vector<SequenceState> copies = states;
  std::vector<SequenceState*> ptrs = {&states[0], &states[1], &states[2]};
  const int32_t next[] = {5, 7, gc_->gen_tokens[0]};
  std::vector<float> batched;
  ASSERT_TRUE(gc_->model->DecodeStep(ptrs, next, &batched).ok());
  for (size_t i = 0; i < copies.size(); ++i) {
    SequenceState* one[] = {&copies[i]};
    std::vector<float> single;
    ASSERT_TRUE(gc_->model->DecodeStep(one, std::span<const int32_t>(&next[i], 1), &single).ok());
    double max_abs = 0;
    ToleranceRatio(batched.data() + static_cast<int64_t>(i) * V, single.data(),
                   static_cast<size_t>(V), 0, 0, &max_abs);
    EXPECT_LE(max_abs, 1e-5) << "sequence " << i;
  }
  EXPECT_CLOSE_GOLDEN(batched.data() + 2 * V, gc_->gen_logits.data(), static_cast<size_t>(V),
                      "batched decode vs gen.logits[0]");
}

TEST_P(GoldenTest, BadInputIsRejectedWithoutStateChange) {
  SequenceState state = gc_->model->NewState();
  std::vector<float> logits;
  const int32_t bad[] = {1, static_cast<int32_t>(gc_->vocab)};
  Status s = gc_->model->Prefill(state, bad, PrefillOptions{}, &logits);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(state.num_tokens(), 0);
  const int32_t negative[] = {-1};
  EXPECT_EQ(gc_->model->Prefill(state, negative, PrefillOptions{}, &logits).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(gc_->model->Prefill(state, {}, PrefillOptions{}, &logits).code(),
            StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(PublicCases, GoldenTest, ::testing::ValuesIn(GoldenCaseNames()));

}  // namespace
}  // namespace gf::testing
