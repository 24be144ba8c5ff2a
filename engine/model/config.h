// ModelConfig: the shape and options of a GoldFinch model, parsed from a model directory's
// config.json and validated.
//
// Two config.json layouts are accepted:
//  - the upstream/golden layout: the upstream keys inside an object "model" (n_layer, n_embd,
//    dim_att, dim_ffn, head_size, vocab_size, inv_other_layer_ratio,
//    kv_cache_compression_ratio, optional "rope": {base, rescale, rebase}, ...);
//  - our flat layout: the same keys at the top level, plus optional "tokenizer" ("world" or
//    "byte"), "tokenizer_file", "eos_token_id", "name", "max_context" and "weight_dtype".
// Derived values follow the model doc: dim_att <= 0 -> n_embd; dim_ffn <= 0 ->
// floor(floor(3.5*C)/32)*32; first_gold_layer = int(L*(rho-1)/rho) evaluated in double;
// compressed_dim = int(C / R); gold_lora_dim = max(floor(C/16), 64).
// Defaults: tokenizer "world" when vocab_size == 65536, else "byte" (an explicit key wins);
// max_context = the explicit "max_context", else "ctx_len" when RoPE is enabled, else 0.
// Validation rejects (InvalidArgument naming the key): missing or non-integer sizes, values <= 0,
// n_embd or dim_ffn not multiples of 32, head_size not dividing dim_att or not a multiple of 4,
// dim_att != n_embd (GOLD requires it), no Finch-C2 or no GOLD layer, unknown tmix/tmix2/cmix/
// cmix2, use_one_minus_w/use_v2 other than 1, sizes beyond sanity caps (so byte counts cannot
// overflow), eos_token_id outside [0, V), a tokenizer_file that is absolute or contains "..",
// and informational keys (n_head, first_gold_layer, kv_cache_compressed_dim, layer_norm_eps,
// rms_norm_eps) that disagree with the derived/fixed values. Other keys are ignored.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace gf {

enum class TokenizerKind { kWorld, kByte };

struct RopeConfig {
  bool enabled = false;
  double base = 10000.0;
  double rescale = 1.0;
  double rebase = 1.0;
};

struct ModelConfig {
  std::string name;            // display name (directory name when absent)
  int n_layer = 0;             // L
  int n_embd = 0;              // C
  int dim_att = 0;             // A (== C)
  int dim_ffn = 0;             // F
  int head_size = 64;          // N
  int vocab_size = 0;          // V
  double inv_other_layer_ratio = 3.0;        // rho
  double kv_cache_compression_ratio = 16.0;  // R
  RopeConfig rope;
  int64_t max_context = 0;     // 0 = unlimited (NoPE); informational ctx_len otherwise

  TokenizerKind tokenizer = TokenizerKind::kWorld;
  std::string tokenizer_file;  // relative to the model directory; empty = default for the kind
  int eos_token_id = 0;        // id that ends generation (World: 0 = <|endoftext|>)
  std::string weight_dtype;    // preferred in-memory matrix dtype: "" (unspecified), "f32", "bf16"

  // Derived (filled by Finalize()).
  int n_head = 0;              // H = A / N
  int first_gold_layer = 0;    // s
  int n_gold = 0;              // G = L - s
  int compressed_dim = 0;      // c = int(C / R)
  int gold_lora_dim = 0;       // D_g

  // Fills the derived fields and validates everything; returns InvalidArgument naming the key.
  Status Finalize();
};

// Parses config.json text (either layout). Does not touch the filesystem.
StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text);

// Reads and parses <dir>/config.json; the name defaults to the directory's base name.
StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

}  // namespace gf
