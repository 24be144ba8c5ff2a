// ModelFingerprint (engine/prefix_cache/model_fingerprint.h): equal for equal models, different
// when any weight value, the matrix dtype, a config field that affects the math, or the tokenizer
// differs. Prints the time it takes for the random models it builds (the L12-D768 figure in the
// report came from running the same function on MakeRandomWeights(RandomConfig(12, 768))).
#include "engine/prefix_cache/model_fingerprint.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "engine/model/random_weights.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "tests/test_support.h"

namespace gf {
namespace {

using kernels::DType;

// A byte tokenizer whose vocabulary can be altered: one token's bytes, or one extra id.
class AlteredTokenizer final : public Tokenizer {
 public:
  AlteredTokenizer(int altered_id, std::string bytes, int extra_ids)
      : altered_id_(altered_id), bytes_(std::move(bytes)), extra_ids_(extra_ids) {}
  std::vector<TokenId> Encode(std::string_view text) const override { return base_.Encode(text); }
  std::vector<TokenId> EncodeOrdinary(std::string_view text) const override {
    return base_.EncodeOrdinary(text);
  }
  std::string_view TokenBytes(TokenId id) const override {
    if (id == altered_id_) return bytes_;
    return base_.TokenBytes(id);
  }
  int vocab_size() const override { return base_.vocab_size() + extra_ids_; }

 private:
  ByteTokenizer base_;
  int altered_id_;
  std::string bytes_;
  int extra_ids_;
};

ModelWeights Random(DType dtype, uint64_t seed = 5) {
  auto w = MakeRandomWeights(RandomConfig(4, 64, 257), dtype, seed);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return std::move(*w);
}

Sha256Digest Timed(const ModelWeights& w, const Tokenizer& tok, const char* what) {
  const auto start = std::chrono::steady_clock::now();
  const Sha256Digest d = ModelFingerprint(w, tok);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("[fingerprint] %s: %.1f MB of weights in %.2f ms\n", what,
              static_cast<double>(w.bytes) / 1e6, ms);
  return d;
}

// Flips the lowest mantissa bit of element `index` of an F32 or BF16 tensor.
void FlipLowBit(const kernels::TensorView& v, int64_t index) {
  auto* bytes = static_cast<uint8_t*>(v.data);
  bytes[static_cast<size_t>(index) * kernels::DTypeSize(v.dtype)] ^= 1;
}

TEST(ModelFingerprintTest, TwoLoadsOfTheBuiltinModelAgree) {
  const std::string dir = testing::SourceDir() + "/models/goldfinch-byte-small";
  auto a = GoldFinchModel::Load(dir);
  auto b = GoldFinchModel::Load(dir);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ByteTokenizer tok;
  const Sha256Digest fa = Timed((*a)->weights(), tok, "builtin f32");
  EXPECT_EQ(fa, ModelFingerprint(**b, tok));
  EXPECT_NE(fa, Sha256Digest{});
}

TEST(ModelFingerprintTest, EveryWeightValueCounts) {
  ByteTokenizer tok;
  ModelWeights w = Random(DType::kF32);
  const Sha256Digest base = Timed(w, tok, "random L4-D64 f32");
  EXPECT_EQ(base, ModelFingerprint(Random(DType::kF32), tok)) << "same seed, same bytes";
  EXPECT_NE(base, ModelFingerprint(Random(DType::kF32, 6), tok)) << "another seed";

  // One value in tensors from every part of the walk, including the strided column views of
  // w_kv_cache_b and the last element of the head.
  const struct {
    const char* name;
    const kernels::TensorView* view;
    int64_t index;
  } cases[] = {
      {"emb", &w.emb, 0},
      {"ln0.bias", &w.ln0.bias, 63},
      {"finch key", &w.blocks[0].finch.key, 100},
      {"finch decay", &w.blocks[1].finch.decay, 7},
      {"gold ln_k", &w.blocks[3].gold.ln_k.weight, 3},
      {"gold kv_w2[1]", &w.blocks[3].gold.kv_w2[1], 5},
      {"ffn value", &w.blocks[2].ffn.value, 9},
      {"head", &w.head, w.head.numel() - 1},
      {"kv_cache_b_x0", &w.kv_cache_b_x0, 1},
      {"kv_cache_b_c (row 1)", &w.kv_cache_b_c, w.kv_cache_b_c.cols()},
  };
  ASSERT_TRUE(w.blocks[3].is_gold && !w.blocks[1].is_gold);
  for (const auto& c : cases) {
    FlipLowBit(*c.view, c.index);
    EXPECT_NE(ModelFingerprint(w, tok), base) << c.name;
    FlipLowBit(*c.view, c.index);
  }
  EXPECT_EQ(ModelFingerprint(w, tok), base) << "all restored";
}

TEST(ModelFingerprintTest, DtypeConfigAndTokenizerCount) {
  ByteTokenizer tok;
  ModelWeights w = Random(DType::kF32);
  const Sha256Digest base = ModelFingerprint(w, tok);
  // The same config and seed with BF16 matrices is another model for the cache.
  EXPECT_NE(ModelFingerprint(Random(DType::kBF16), tok), base);

  w.config.rope.enabled = true;  // same tensors, different math
  EXPECT_NE(ModelFingerprint(w, tok), base);
  w.config.rope.enabled = false;
  w.config.rope.base = 20000.0;
  EXPECT_NE(ModelFingerprint(w, tok), base);
  w.config.rope.base = 10000.0;
  EXPECT_EQ(ModelFingerprint(w, tok), base);
  // Display-only fields do not count.
  w.config.name = "renamed";
  w.config.max_context = 4096;
  w.config.eos_token_id = 3;
  EXPECT_EQ(ModelFingerprint(w, tok), base);

  EXPECT_NE(ModelFingerprint(w, AlteredTokenizer(66, "B", 0)), base) << "token 66 'A' -> 'B'";
  EXPECT_NE(ModelFingerprint(w, AlteredTokenizer(0, "<|end|>", 0)), base);
  EXPECT_NE(ModelFingerprint(w, AlteredTokenizer(-1, "", 1)), base) << "one more id";
  EXPECT_EQ(ModelFingerprint(w, AlteredTokenizer(-1, "", 0)), base) << "unaltered";
}

TEST(ModelFingerprintTest, CanonicalConfigTextIsFixed) {
  ModelConfig c = RandomConfig(12, 768);
  ASSERT_TRUE(c.Finalize().ok());
  EXPECT_EQ(CanonicalConfigText(c),
            "n_layer=12\nn_embd=768\ndim_att=768\ndim_ffn=2688\nhead_size=64\nvocab_size=65536\n"
            "inv_other_layer_ratio=3\nkv_cache_compression_ratio=16\nrope.enabled=0\n"
            "rope.base=10000\nrope.rescale=1\nrope.rebase=1\nn_head=12\nfirst_gold_layer=8\n"
            "n_gold=4\ncompressed_dim=48\ngold_lora_dim=64\n");
}

}  // namespace
}  // namespace gf
