#include "engine/model/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "engine/util/json.h"

namespace gf {

namespace {

// Sanity caps: far above any real GoldFinch, low enough that every tensor byte count of a
// model that passes them fits comfortably in 64 bits.
constexpr int kMaxLayers = 1024;
constexpr int kMaxEmbd = 1 << 16;
constexpr int kMaxFfn = 1 << 20;
constexpr int kMaxVocab = 1 << 24;
constexpr int kMaxCompressedDim = 1 << 20;
constexpr int kWorldVocabSize = 65536;

Status KeyError(const std::string& key, const std::string& what) {
  return InvalidArgument("config: \"" + key + "\" " + what);
}

std::string Num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// A view of the keys of a config: model keys live in `model` (the golden layout's "model"
// object, or the root for the flat layout); descriptive keys are looked up in the root first.
class ConfigKeys {
 public:
  ConfigKeys(const JsonValue& root, const JsonValue& model) : root_(root), model_(model) {}

  // nullptr when absent or JSON null (null means "not given" for every key).
  const JsonValue* Model(const std::string& key) const { return NonNull(model_.Find(key)); }
  const JsonValue* Meta(const std::string& key) const {
    const JsonValue* v = NonNull(root_.Find(key));
    return v != nullptr ? v : Model(key);
  }

 private:
  static const JsonValue* NonNull(const JsonValue* v) {
    return (v == nullptr || v->is_null()) ? nullptr : v;
  }
  const JsonValue& root_;
  const JsonValue& model_;
};

// Reads an integer key into *out (left unchanged when absent unless `required`).
Status ReadInt(const JsonValue* v, const std::string& key, bool required, int* out) {
  if (v == nullptr) {
    return required ? KeyError(key, "is missing") : Status::Ok();
  }
  if (!v->is_integer()) return KeyError(key, "must be an integer");
  if (v->as_int() < std::numeric_limits<int>::min() ||
      v->as_int() > std::numeric_limits<int>::max()) {
    return KeyError(key, "is out of range (got " + std::to_string(v->as_int()) + ")");
  }
  *out = static_cast<int>(v->as_int());
  return Status::Ok();
}

Status ReadInt64(const JsonValue* v, const std::string& key, int64_t* out) {
  if (v == nullptr) return Status::Ok();
  if (!v->is_integer()) return KeyError(key, "must be an integer");
  *out = v->as_int();
  return Status::Ok();
}

Status ReadDouble(const JsonValue* v, const std::string& key, double* out) {
  if (v == nullptr) return Status::Ok();
  if (!v->is_number()) return KeyError(key, "must be a number");
  *out = v->as_double();
  return Status::Ok();
}

Status ReadString(const JsonValue* v, const std::string& key, std::string* out) {
  if (v == nullptr) return Status::Ok();
  if (!v->is_string()) return KeyError(key, "must be a string");
  *out = v->as_string();
  return Status::Ok();
}

// A key that, when present, must be the one string value the engine implements.
Status CheckFixedString(const ConfigKeys& keys, const std::string& key, const std::string& want) {
  const JsonValue* v = keys.Model(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_string()) return KeyError(key, "must be a string");
  if (v->as_string() != want) {
    return KeyError(key, "is \"" + v->as_string() + "\"; only \"" + want + "\" is supported");
  }
  return Status::Ok();
}

// A numeric key that, when present, must equal `want` (a setting the engine hard-codes or
// derives itself).
Status CheckFixedNumber(const ConfigKeys& keys, const std::string& key, double want,
                        const std::string& why) {
  const JsonValue* v = keys.Model(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_number()) return KeyError(key, "must be a number");
  if (v->as_double() != want) {
    return KeyError(key, "is " + Num(v->as_double()) + " but " + why + " is " + Num(want));
  }
  return Status::Ok();
}

Status ParseRope(const JsonValue* v, RopeConfig* rope) {
  *rope = RopeConfig{};
  if (v == nullptr) return Status::Ok();
  if (!v->is_object()) return KeyError("rope", "must be an object or null");
  rope->enabled = true;
  GF_RETURN_IF_ERROR(ReadDouble(v->Find("base"), "rope.base", &rope->base));
  GF_RETURN_IF_ERROR(ReadDouble(v->Find("rescale"), "rope.rescale", &rope->rescale));
  GF_RETURN_IF_ERROR(ReadDouble(v->Find("rebase"), "rope.rebase", &rope->rebase));
  return Status::Ok();
}

Status ParseTokenizerKind(const JsonValue* v, int vocab_size, TokenizerKind* kind) {
  if (v == nullptr) {
    *kind = vocab_size == kWorldVocabSize ? TokenizerKind::kWorld : TokenizerKind::kByte;
    return Status::Ok();
  }
  if (!v->is_string()) return KeyError("tokenizer", "must be a string");
  if (v->as_string() == "world") {
    *kind = TokenizerKind::kWorld;
  } else if (v->as_string() == "byte") {
    *kind = TokenizerKind::kByte;
  } else {
    return KeyError("tokenizer", "is \"" + v->as_string() + "\"; expected \"world\" or \"byte\"");
  }
  return Status::Ok();
}

Status NormalizeWeightDtype(std::string* dtype) {
  if (dtype->empty()) return Status::Ok();
  if (*dtype == "f32" || *dtype == "fp32" || *dtype == "float32") {
    *dtype = "f32";
  } else if (*dtype == "bf16" || *dtype == "bfloat16") {
    *dtype = "bf16";
  } else {
    return KeyError("weight_dtype", "is \"" + *dtype + "\"; expected \"f32\" or \"bf16\"");
  }
  return Status::Ok();
}

Status CheckPositive(const std::string& key, int value, int cap) {
  if (value <= 0) return KeyError(key, "must be > 0 (got " + std::to_string(value) + ")");
  if (value > cap) {
    return KeyError(key, "is " + std::to_string(value) + ", above the limit " + std::to_string(cap));
  }
  return Status::Ok();
}

Status CheckPositiveFinite(const std::string& key, double value) {
  if (!std::isfinite(value) || value <= 0) {
    return KeyError(key, "must be a finite number > 0 (got " + Num(value) + ")");
  }
  return Status::Ok();
}

// The model-level cross-checks that need derived values (keys that upstream configs carry
// for information only).
Status CheckInformationalKeys(const ConfigKeys& keys, const ModelConfig& c) {
  GF_RETURN_IF_ERROR(CheckFixedNumber(keys, "n_head", c.n_head, "dim_att / head_size"));
  GF_RETURN_IF_ERROR(CheckFixedNumber(keys, "first_gold_layer", c.first_gold_layer,
                                      "int(n_layer * (ratio - 1) / ratio)"));
  GF_RETURN_IF_ERROR(CheckFixedNumber(keys, "kv_cache_compressed_dim", c.compressed_dim,
                                      "int(n_embd / kv_cache_compression_ratio)"));
  GF_RETURN_IF_ERROR(CheckFixedNumber(keys, "layer_norm_eps", 1e-5, "the engine's LayerNorm eps"));
  GF_RETURN_IF_ERROR(CheckFixedNumber(keys, "rms_norm_eps", 1e-8, "the engine's RMS norm eps"));
  GF_RETURN_IF_ERROR(CheckFixedNumber(keys, "use_one_minus_w", 1, "the supported setting"));
  GF_RETURN_IF_ERROR(CheckFixedNumber(keys, "use_v2", 1, "the supported setting"));
  return Status::Ok();
}

bool IsSafeRelativePath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string::npos) return false;
  for (const auto& part : std::filesystem::path(path)) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

Status ModelConfig::Finalize() {
  GF_RETURN_IF_ERROR(CheckPositive("n_layer", n_layer, kMaxLayers));
  GF_RETURN_IF_ERROR(CheckPositive("n_embd", n_embd, kMaxEmbd));
  if (n_embd % 32 != 0) {
    return KeyError("n_embd", "must be a multiple of 32 (got " + std::to_string(n_embd) + ")");
  }
  if (dim_att <= 0) dim_att = n_embd;
  if (dim_att != n_embd) {
    return KeyError("dim_att", "is " + std::to_string(dim_att) + " but GOLD requires dim_att == n_embd (" +
                                   std::to_string(n_embd) + ")");
  }
  if (dim_ffn <= 0) dim_ffn = static_cast<int>(static_cast<int64_t>(n_embd) * 7 / 2) / 32 * 32;
  GF_RETURN_IF_ERROR(CheckPositive("dim_ffn", dim_ffn, kMaxFfn));
  if (dim_ffn % 32 != 0) {
    return KeyError("dim_ffn", "must be a multiple of 32 (got " + std::to_string(dim_ffn) + ")");
  }
  GF_RETURN_IF_ERROR(CheckPositive("head_size", head_size, kMaxEmbd));
  if (head_size % 4 != 0) {
    return KeyError("head_size", "must be a multiple of 4 (got " + std::to_string(head_size) + ")");
  }
  if (dim_att % head_size != 0) {
    return KeyError("head_size", std::to_string(head_size) + " does not divide dim_att " +
                                     std::to_string(dim_att));
  }
  GF_RETURN_IF_ERROR(CheckPositive("vocab_size", vocab_size, kMaxVocab));

  if (!std::isfinite(inv_other_layer_ratio) || inv_other_layer_ratio <= 0) {
    return KeyError("inv_other_layer_ratio",
                    "must be a finite number > 0 (got " + Num(inv_other_layer_ratio) + ")");
  }
  // Python: int(n_layer * (ratio - 1) / ratio), evaluated left to right in double.
  const double s = static_cast<double>(n_layer) * (inv_other_layer_ratio - 1.0) / inv_other_layer_ratio;
  if (!(s >= 1.0)) {
    return KeyError("inv_other_layer_ratio", "= " + Num(inv_other_layer_ratio) + " with n_layer " +
                                                 std::to_string(n_layer) + " leaves no Finch-C2 layer");
  }
  if (!(s < static_cast<double>(n_layer))) {
    return KeyError("inv_other_layer_ratio", "= " + Num(inv_other_layer_ratio) + " with n_layer " +
                                                 std::to_string(n_layer) + " leaves no GOLD layer");
  }
  first_gold_layer = static_cast<int>(s);
  n_gold = n_layer - first_gold_layer;

  GF_RETURN_IF_ERROR(CheckPositiveFinite("kv_cache_compression_ratio", kv_cache_compression_ratio));
  const double c = static_cast<double>(n_embd) / kv_cache_compression_ratio;
  if (!(c >= 1.0) || c > kMaxCompressedDim) {
    return KeyError("kv_cache_compression_ratio",
                    "= " + Num(kv_cache_compression_ratio) + " gives a compressed width int(" +
                        std::to_string(n_embd) + " / ratio) outside [1, " +
                        std::to_string(kMaxCompressedDim) + "]");
  }
  compressed_dim = static_cast<int>(c);
  gold_lora_dim = std::max(n_embd / 16, 64);
  n_head = dim_att / head_size;

  if (rope.enabled) {
    GF_RETURN_IF_ERROR(CheckPositiveFinite("rope.base", rope.base));
    GF_RETURN_IF_ERROR(CheckPositiveFinite("rope.rescale", rope.rescale));
    GF_RETURN_IF_ERROR(CheckPositiveFinite("rope.rebase", rope.rebase));
  }
  if (max_context < 0) {
    return KeyError("max_context", "must be >= 0 (got " + std::to_string(max_context) + ")");
  }
  if (eos_token_id < 0 || eos_token_id >= vocab_size) {
    return KeyError("eos_token_id", "= " + std::to_string(eos_token_id) + " is outside [0, vocab_size " +
                                        std::to_string(vocab_size) + ")");
  }
  if (!tokenizer_file.empty() && !IsSafeRelativePath(tokenizer_file)) {
    return KeyError("tokenizer_file", "must be a path relative to the model directory without \"..\"");
  }
  std::string dtype = weight_dtype;
  GF_RETURN_IF_ERROR(NormalizeWeightDtype(&dtype));
  weight_dtype = dtype;
  return Status::Ok();
}

StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text) {
  auto parsed = ParseJson(json_text);
  if (!parsed.ok()) return parsed.status().WithContext("config");
  const JsonValue& root = parsed.value();
  if (!root.is_object()) return InvalidArgument("config: the top level must be a JSON object");
  const JsonValue* model_obj = root.Find("model");
  const bool nested = model_obj != nullptr && model_obj->is_object();
  const ConfigKeys keys(root, nested ? *model_obj : root);

  ModelConfig c;
  GF_RETURN_IF_ERROR(ReadString(keys.Meta("name"), "name", &c.name));
  GF_RETURN_IF_ERROR(ReadInt(keys.Model("n_layer"), "n_layer", true, &c.n_layer));
  GF_RETURN_IF_ERROR(ReadInt(keys.Model("n_embd"), "n_embd", true, &c.n_embd));
  GF_RETURN_IF_ERROR(ReadInt(keys.Model("dim_att"), "dim_att", false, &c.dim_att));
  GF_RETURN_IF_ERROR(ReadInt(keys.Model("dim_ffn"), "dim_ffn", false, &c.dim_ffn));
  GF_RETURN_IF_ERROR(ReadInt(keys.Model("head_size"), "head_size", false, &c.head_size));
  GF_RETURN_IF_ERROR(ReadInt(keys.Model("vocab_size"), "vocab_size", true, &c.vocab_size));
  GF_RETURN_IF_ERROR(ReadDouble(keys.Model("inv_other_layer_ratio"), "inv_other_layer_ratio",
                                &c.inv_other_layer_ratio));
  GF_RETURN_IF_ERROR(ReadDouble(keys.Model("kv_cache_compression_ratio"),
                                "kv_cache_compression_ratio", &c.kv_cache_compression_ratio));
  GF_RETURN_IF_ERROR(ParseRope(keys.Model("rope"), &c.rope));
  GF_RETURN_IF_ERROR(CheckFixedString(keys, "tmix", "x060c2"));
  GF_RETURN_IF_ERROR(CheckFixedString(keys, "tmix2", "gold"));
  GF_RETURN_IF_ERROR(CheckFixedString(keys, "cmix", "x060"));
  GF_RETURN_IF_ERROR(CheckFixedString(keys, "cmix2", "x060"));

  int64_t ctx_len = 0;
  GF_RETURN_IF_ERROR(ReadInt64(keys.Model("ctx_len"), "ctx_len", &ctx_len));
  if (keys.Model("ctx_len") != nullptr && ctx_len <= 0) {
    return KeyError("ctx_len", "must be > 0 (got " + std::to_string(ctx_len) + ")");
  }
  if (keys.Meta("max_context") != nullptr) {
    GF_RETURN_IF_ERROR(ReadInt64(keys.Meta("max_context"), "max_context", &c.max_context));
  } else if (c.rope.enabled) {
    c.max_context = ctx_len;  // RoPE tables are built for ctx_len positions upstream
  }

  GF_RETURN_IF_ERROR(ParseTokenizerKind(keys.Meta("tokenizer"), c.vocab_size, &c.tokenizer));
  GF_RETURN_IF_ERROR(ReadString(keys.Meta("tokenizer_file"), "tokenizer_file", &c.tokenizer_file));
  if (keys.Meta("tokenizer_file") != nullptr && c.tokenizer_file.empty()) {
    return KeyError("tokenizer_file", "must not be empty");
  }
  GF_RETURN_IF_ERROR(ReadInt(keys.Meta("eos_token_id"), "eos_token_id", false, &c.eos_token_id));
  GF_RETURN_IF_ERROR(ReadString(keys.Meta("weight_dtype"), "weight_dtype", &c.weight_dtype));

  GF_RETURN_IF_ERROR(c.Finalize());
  GF_RETURN_IF_ERROR(CheckInformationalKeys(keys, c));
  return c;
}

StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  auto text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  auto config = ParseModelConfig(text.value());
  if (!config.ok()) return config.status().WithContext(path);
  if (config->name.empty()) {
    std::filesystem::path dir(model_dir);
    if (!dir.has_filename()) dir = dir.parent_path();  // "models/x/" -> "models/x"
    config->name = dir.filename().string();
  }
  return config;
}

}  // namespace gf
