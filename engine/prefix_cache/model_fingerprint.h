// ModelFingerprint: a SHA-256 that identifies everything a cached state depends on, so that
// cache records are only ever used with the model, tokenizer and formats that made them. It
// seeds every prefix key and is stored in every record envelope (docs/cache_format.md,
// "Model fingerprint").
//
// Covered: a format tag; the state, recurrent-state, record, row-segment and snapshot format
// versions and the key block size; the config fields that affect the math (shapes, ratios, RoPE
// parameters, derived dimensions; not the name, max_context, eos id or file names), as canonical
// text; the matrix dtype; the tokenizer (vocabulary size, end-of-text id and every token's
// bytes); and the bytes of every weight tensor of ModelWeights with its name, dtype and shape, in
// a fixed order. Large tensors are hashed in fixed 4 MiB row chunks whose digests are hashed in
// order, so the result never depends on the thread count.
//
// Cost: one pass over the weight bytes, spread over the kernel thread pool (call it from the
// thread that owns the pool, e.g. at start-up; see the measurement in model_fingerprint_test.cc).
// Thread-safety: pure functions over immutable inputs.
#pragma once

#include <string>
#include <string_view>

#include "common/sha256.h"
#include "engine/model/goldfinch.h"
#include "engine/model/model_weights.h"
#include "engine/tokenizer/tokenizer.h"

namespace gf {

inline constexpr std::string_view kModelFingerprintTag = "goldfinch-model-fingerprint-v1";

Sha256Digest ModelFingerprint(const GoldFinchModel& model, const Tokenizer& tokenizer);
Sha256Digest ModelFingerprint(const ModelWeights& weights, const Tokenizer& tokenizer);

// The canonical config text that is hashed ("key=value\n" lines, fixed order, doubles in %.17g).
std::string CanonicalConfigText(const ModelConfig& config);

}  // namespace gf
