// Tests for ModelConfig parsing, derivation and validation (engine/model/config.h).
#include "engine/model/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "tests/test_support.h"

namespace gf {
namespace {

ModelConfig MustParse(const std::string& json) {
  auto c = ParseModelConfig(json);
  EXPECT_TRUE(c.ok()) << c.status().ToString() << "\n" << json;
  return c.ok() ? c.value() : ModelConfig{};
}

// Asserts InvalidArgument with a message naming `key` (quoted, as the config errors print it).
void ExpectKeyError(const std::string& json, const std::string& key) {
  auto c = ParseModelConfig(json);
  ASSERT_FALSE(c.ok()) << "accepted: " << json;
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().ToString();
  EXPECT_NE(c.status().message().find("\"" + key + "\""), std::string::npos)
      << "message: " << c.status().message() << " (wanted key " << key << ")";
}

// A flat-layout config with the given extra members appended (they override nothing: tests
// use keys that are not in the base).
std::string Flat(const std::string& extra = "", int n_layer = 12, int n_embd = 768,
                 int vocab = 65536) {
  std::string s = "{\"n_layer\": " + std::to_string(n_layer) + ", \"n_embd\": " +
                  std::to_string(n_embd) + ", \"vocab_size\": " + std::to_string(vocab);
  if (!extra.empty()) s += ", " + extra;
  return s + "}";
}

TEST(ConfigTest, GoldenL4) {
  auto c = LoadModelConfig(testing::GoldenCaseDir("gf_L4_D64_hs32_V256_T23"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "gf_L4_D64_hs32_V256_T23");
  EXPECT_EQ(c->n_layer, 4);
  EXPECT_EQ(c->n_embd, 64);
  EXPECT_EQ(c->dim_att, 64);
  EXPECT_EQ(c->dim_ffn, 224);
  EXPECT_EQ(c->head_size, 32);
  EXPECT_EQ(c->n_head, 2);
  EXPECT_EQ(c->vocab_size, 256);
  EXPECT_EQ(c->first_gold_layer, 2);
  EXPECT_EQ(c->n_gold, 2);
  EXPECT_EQ(c->compressed_dim, 4);
  EXPECT_EQ(c->gold_lora_dim, 64);
  EXPECT_FALSE(c->rope.enabled);
  EXPECT_EQ(c->max_context, 0);  // NoPE: ctx_len is not a limit
  EXPECT_EQ(c->tokenizer, TokenizerKind::kByte);
  EXPECT_EQ(c->eos_token_id, 0);
  EXPECT_TRUE(c->tokenizer_file.empty());
}

TEST(ConfigTest, GoldenL6) {
  auto c = LoadModelConfig(testing::GoldenCaseDir("gf_L6_D128_hs64_V1000_T47"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->n_layer, 6);
  EXPECT_EQ(c->n_embd, 128);
  EXPECT_EQ(c->dim_ffn, 448);
  EXPECT_EQ(c->head_size, 64);
  EXPECT_EQ(c->n_head, 2);
  EXPECT_EQ(c->vocab_size, 1000);
  EXPECT_EQ(c->first_gold_layer, 4);
  EXPECT_EQ(c->n_gold, 2);
  EXPECT_EQ(c->compressed_dim, 8);
  EXPECT_EQ(c->gold_lora_dim, 64);
  EXPECT_FALSE(c->rope.enabled);
  EXPECT_EQ(c->max_context, 0);
  EXPECT_EQ(c->tokenizer, TokenizerKind::kByte);
}

TEST(ConfigTest, GoldenL5Rope) {
  auto c = LoadModelConfig(testing::GoldenCaseDir("gf_L5_D96_hs32_V512_T64_rope10k"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->n_layer, 5);
  EXPECT_EQ(c->n_embd, 96);
  EXPECT_EQ(c->dim_ffn, 320);
  EXPECT_EQ(c->n_head, 3);
  EXPECT_EQ(c->first_gold_layer, 3);
  EXPECT_EQ(c->n_gold, 2);
  EXPECT_EQ(c->compressed_dim, 6);
  EXPECT_EQ(c->gold_lora_dim, 64);
  EXPECT_TRUE(c->rope.enabled);
  EXPECT_EQ(c->rope.base, 10000.0);
  EXPECT_EQ(c->rope.rescale, 1.0);
  EXPECT_EQ(c->rope.rebase, 1.0);
  EXPECT_EQ(c->max_context, 128);  // ctx_len, because RoPE is enabled
}

TEST(ConfigTest, ReleasedSmallShapeDerivations) {
  const ModelConfig c = MustParse(Flat());
  EXPECT_EQ(c.dim_att, 768);
  EXPECT_EQ(c.dim_ffn, 2688);
  EXPECT_EQ(c.head_size, 64);
  EXPECT_EQ(c.n_head, 12);
  EXPECT_EQ(c.first_gold_layer, 8);
  EXPECT_EQ(c.n_gold, 4);
  EXPECT_EQ(c.compressed_dim, 48);
  EXPECT_EQ(c.gold_lora_dim, 64);
  EXPECT_EQ(c.tokenizer, TokenizerKind::kWorld);  // vocab 65536
  EXPECT_FALSE(c.rope.enabled);
  EXPECT_EQ(c.max_context, 0);
  EXPECT_EQ(c.name, "");
}

TEST(ConfigTest, ReleasedLargeShapeDerivations) {
  const ModelConfig c = MustParse(Flat("", 24, 2048));
  EXPECT_EQ(c.dim_ffn, 7168);
  EXPECT_EQ(c.n_head, 32);
  EXPECT_EQ(c.first_gold_layer, 16);
  EXPECT_EQ(c.n_gold, 8);
  EXPECT_EQ(c.compressed_dim, 128);
  EXPECT_EQ(c.gold_lora_dim, 128);
}

TEST(ConfigTest, AblationRatios) {
  EXPECT_EQ(MustParse(Flat("\"inv_other_layer_ratio\": 2")).first_gold_layer, 6);
  EXPECT_EQ(MustParse(Flat("\"inv_other_layer_ratio\": 6")).first_gold_layer, 10);
  EXPECT_EQ(MustParse(Flat("\"inv_other_layer_ratio\": 6.0")).n_gold, 2);
  EXPECT_EQ(MustParse(Flat("\"kv_cache_compression_ratio\": 1")).compressed_dim, 768);
  EXPECT_EQ(MustParse(Flat("\"kv_cache_compression_ratio\": 10")).compressed_dim, 76);  // int(76.8)
}

TEST(ConfigTest, FlatLayoutDescriptiveKeys) {
  const ModelConfig c = MustParse(Flat(
      R"("name": "tiny", "tokenizer": "byte", "tokenizer_file": "tok/vocab.txt", "eos_token_id": 5,
         "max_context": 4096, "weight_dtype": "bfloat16", "rope": null, "dim_att": 0,
         "dim_ffn": 0, "head_size": 64)"));
  EXPECT_EQ(c.name, "tiny");
  EXPECT_EQ(c.tokenizer, TokenizerKind::kByte);  // explicit key wins over vocab 65536
  EXPECT_EQ(c.tokenizer_file, "tok/vocab.txt");
  EXPECT_EQ(c.eos_token_id, 5);
  EXPECT_EQ(c.max_context, 4096);  // explicit, even without RoPE
  EXPECT_EQ(c.weight_dtype, "bf16");
  EXPECT_EQ(c.dim_att, 768);
  EXPECT_EQ(c.dim_ffn, 2688);
  EXPECT_FALSE(c.rope.enabled);
  EXPECT_EQ(MustParse(Flat("\"tokenizer\": \"world\"", 12, 768, 1000)).tokenizer, TokenizerKind::kWorld);
}

TEST(ConfigTest, FlatRopeDefaultsAndCtxLen) {
  const ModelConfig c = MustParse(Flat(R"("rope": {}, "ctx_len": 1024)"));
  EXPECT_TRUE(c.rope.enabled);
  EXPECT_EQ(c.rope.base, 10000.0);
  EXPECT_EQ(c.max_context, 1024);
  const ModelConfig d = MustParse(Flat(R"("rope": {"base": 500000, "rescale": 2.0}, "max_context": 64, "ctx_len": 1024)"));
  EXPECT_EQ(d.rope.base, 500000.0);
  EXPECT_EQ(d.rope.rescale, 2.0);
  EXPECT_EQ(d.max_context, 64);  // explicit max_context wins
  EXPECT_EQ(MustParse(Flat("\"ctx_len\": 1024")).max_context, 0);  // NoPE
}

TEST(ConfigTest, GoldenLayoutWithOverridesAtTopLevel) {
  const ModelConfig c = MustParse(
      R"({"name": "g", "tokenizer": "world", "model": {"n_layer": 4, "n_embd": 64, "vocab_size": 256,
          "head_size": 32, "rope": {"base": 10000.0}, "ctx_len": 128, "tmix": "x060c2"}})");
  EXPECT_EQ(c.name, "g");
  EXPECT_EQ(c.tokenizer, TokenizerKind::kWorld);
  EXPECT_TRUE(c.rope.enabled);
  EXPECT_EQ(c.max_context, 128);
  EXPECT_EQ(c.first_gold_layer, 2);
}

TEST(ConfigTest, RejectsMissingAndMistypedSizes) {
  ExpectKeyError(R"({"n_embd": 64, "vocab_size": 256})", "n_layer");
  ExpectKeyError(R"({"n_layer": 4, "vocab_size": 256})", "n_embd");
  ExpectKeyError(R"({"n_layer": 4, "n_embd": 64})", "vocab_size");
  ExpectKeyError(R"({"n_layer": 4.0, "n_embd": 64, "vocab_size": 256})", "n_layer");
  ExpectKeyError(R"({"n_layer": "4", "n_embd": 64, "vocab_size": 256})", "n_layer");
  ExpectKeyError(R"({"n_layer": 4, "n_embd": 64, "vocab_size": 99999999999})", "vocab_size");
  // The golden layout reports keys the same way.
  ExpectKeyError(R"({"model": {"n_layer": 4, "n_embd": 64}})", "vocab_size");
}

TEST(ConfigTest, RejectsInvalidValues) {
  ExpectKeyError(Flat("", 0), "n_layer");
  ExpectKeyError(Flat("", -3), "n_layer");
  ExpectKeyError(Flat("", 5000), "n_layer");
  ExpectKeyError(Flat("", 12, 100), "n_embd");     // not a multiple of 32
  ExpectKeyError(Flat("", 12, -64), "n_embd");
  ExpectKeyError(Flat("", 12, 1 << 20), "n_embd");  // above the cap
  ExpectKeyError(Flat("", 12, 768, 0), "vocab_size");
  ExpectKeyError(Flat("\"dim_ffn\": 100"), "dim_ffn");
  ExpectKeyError(Flat("\"dim_att\": 512"), "dim_att");   // GOLD needs dim_att == n_embd
  ExpectKeyError(Flat("\"head_size\": 66"), "head_size");  // not a multiple of 4
  ExpectKeyError(Flat("\"head_size\": 36"), "head_size");  // does not divide 768
  ExpectKeyError(Flat("\"head_size\": -64"), "head_size");
  ExpectKeyError(Flat("\"inv_other_layer_ratio\": 1"), "inv_other_layer_ratio");   // no Finch-C2
  ExpectKeyError(Flat("\"inv_other_layer_ratio\": 0.5"), "inv_other_layer_ratio");
  ExpectKeyError(Flat("\"inv_other_layer_ratio\": 0"), "inv_other_layer_ratio");
  ExpectKeyError(Flat("\"inv_other_layer_ratio\": 1e300"), "inv_other_layer_ratio");  // no GOLD
  ExpectKeyError(Flat("\"inv_other_layer_ratio\": \"3\""), "inv_other_layer_ratio");
  ExpectKeyError(Flat("", 1), "inv_other_layer_ratio");  // one layer cannot hold both kinds
  ExpectKeyError(Flat("\"kv_cache_compression_ratio\": 0"), "kv_cache_compression_ratio");
  ExpectKeyError(Flat("\"kv_cache_compression_ratio\": 1000"), "kv_cache_compression_ratio");
  ExpectKeyError(Flat("\"kv_cache_compression_ratio\": 1e-300"), "kv_cache_compression_ratio");
  ExpectKeyError(Flat("\"rope\": true"), "rope");
  ExpectKeyError(Flat("\"rope\": {\"base\": -1}"), "rope.base");
  ExpectKeyError(Flat("\"rope\": {\"rebase\": \"x\"}"), "rope.rebase");
  ExpectKeyError(Flat("\"rope\": {\"rescale\": 0}"), "rope.rescale");
  ExpectKeyError(Flat("\"ctx_len\": 0"), "ctx_len");
  ExpectKeyError(Flat("\"ctx_len\": 1.5"), "ctx_len");
  ExpectKeyError(Flat("\"max_context\": -1"), "max_context");
  ExpectKeyError(Flat("\"tokenizer\": \"sentencepiece\""), "tokenizer");
  ExpectKeyError(Flat("\"tokenizer\": 1"), "tokenizer");
  ExpectKeyError(Flat("\"tokenizer_file\": \"/etc/passwd\""), "tokenizer_file");
  ExpectKeyError(Flat("\"tokenizer_file\": \"../x.txt\""), "tokenizer_file");
  ExpectKeyError(Flat("\"tokenizer_file\": \"\""), "tokenizer_file");
  ExpectKeyError(Flat("\"eos_token_id\": 65536"), "eos_token_id");
  ExpectKeyError(Flat("\"eos_token_id\": -1"), "eos_token_id");
  ExpectKeyError(Flat("\"weight_dtype\": \"int8\""), "weight_dtype");
  ExpectKeyError(Flat("\"name\": 3"), "name");
}

TEST(ConfigTest, RejectsUnsupportedArchitectureKeys) {
  ExpectKeyError(Flat("\"tmix\": \"x060\""), "tmix");
  ExpectKeyError(Flat("\"tmix2\": \"llama\""), "tmix2");
  ExpectKeyError(Flat("\"cmix\": \"x052\""), "cmix");
  ExpectKeyError(Flat("\"cmix2\": \"x052\""), "cmix2");
  ExpectKeyError(Flat("\"use_v2\": 0"), "use_v2");
  ExpectKeyError(Flat("\"use_one_minus_w\": 0"), "use_one_minus_w");
  EXPECT_TRUE(ParseModelConfig(Flat(R"("tmix": "x060c2", "tmix2": "gold", "cmix": "x060",
                                       "cmix2": "x060", "use_v2": 1, "use_one_minus_w": 1)")).ok());
}

TEST(ConfigTest, RejectsInconsistentInformationalKeys) {
  ExpectKeyError(Flat("\"n_head\": 6"), "n_head");
  ExpectKeyError(Flat("\"first_gold_layer\": 9"), "first_gold_layer");
  ExpectKeyError(Flat("\"kv_cache_compressed_dim\": 64"), "kv_cache_compressed_dim");
  ExpectKeyError(Flat("\"layer_norm_eps\": 1e-6"), "layer_norm_eps");
  ExpectKeyError(Flat("\"rms_norm_eps\": 1e-6"), "rms_norm_eps");
  EXPECT_TRUE(ParseModelConfig(Flat(R"("n_head": 12, "first_gold_layer": 8,
      "kv_cache_compressed_dim": 48, "layer_norm_eps": 1e-05, "rms_norm_eps": 1e-08)")).ok());
}

TEST(ConfigTest, RejectsMalformedJson) {
  auto c = ParseModelConfig("{\"n_layer\": 4,");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("config"), std::string::npos);
  ExpectKeyError(R"({"n_layer": 4, "n_layer": 5, "n_embd": 64, "vocab_size": 256})", "n_layer");
  auto arr = ParseModelConfig("[1, 2]");
  ASSERT_FALSE(arr.ok());
  EXPECT_EQ(arr.status().code(), StatusCode::kInvalidArgument);
}

TEST(ConfigTest, FinalizeValidatesProgrammaticConfigs) {
  ModelConfig c;
  c.n_layer = 6;
  c.n_embd = 128;
  c.vocab_size = 1000;
  ASSERT_TRUE(c.Finalize().ok());
  EXPECT_EQ(c.dim_att, 128);
  EXPECT_EQ(c.dim_ffn, 448);
  EXPECT_EQ(c.first_gold_layer, 4);
  EXPECT_EQ(c.compressed_dim, 8);
  EXPECT_TRUE(c.Finalize().ok());  // idempotent
  EXPECT_EQ(c.first_gold_layer, 4);
  c.inv_other_layer_ratio = std::numeric_limits<double>::quiet_NaN();
  const Status s = c.Finalize();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("inv_other_layer_ratio"), std::string::npos);
}

TEST(ConfigTest, LoadModelConfigFromDirectory) {
  const std::string root = testing::MakeTempDir("config_test");
  const std::string dir = root + "/my-model";
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir + "/config.json") << Flat();
  }
  auto c = LoadModelConfig(dir + "/");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "my-model");  // directory base name when "name" is absent

  auto missing = LoadModelConfig(dir + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("config.json"), std::string::npos);

  {
    std::ofstream(dir + "/config.json") << Flat("\"dim_ffn\": 33");
  }
  auto bad = LoadModelConfig(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("config.json"), std::string::npos);
  EXPECT_NE(bad.status().message().find("\"dim_ffn\""), std::string::npos);
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

}  // namespace
}  // namespace gf
