// GoldFinchModel: the GoldFinch forward pass over batches of sequences.
//
// One Forward call processes new tokens for several sequences ("segments") at once: the GEMMs
// run over all their rows together, the recurrences and attention per sequence. A segment may
// be a whole prompt, a prefill chunk continuing any state, or one decode token; segments of one
// call must belong to distinct sequences. After every call each state is complete and exact at
// its last token (WKV and shift states, carry rows, tokens, compressed rows and materialised K/V),
// so a sequence can be cut, serialised, forked or continued after any token.
//
// GOLD layers run only over the rows the requested logits depend on (model doc section 6.2): with
// LogitsMode::kAll every new row; otherwise GOLD layer g (0-based) runs the last
// min(T, 2(G-g)+1) rows, where the first row of a window that does not reach the chunk start only
// provides the token shift of the next row (its own output is discarded). That is G(G+2) rows in
// all (24 for G=4) and leaves every GOLD shift state exact. Prefill therefore costs
// T * (Finch stack + TokenCat + GOLD K/V) plus a tail independent of T.
//
// Threads: a model is used by one thread at a time (it owns scratch buffers); weights are
// immutable. Logits are F32 [rows, vocab] written into caller-owned vectors.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/model/layers.h"
#include "engine/model/model_weights.h"
#include "engine/model/weights_loader.h"
#include "engine/sequence_state.h"

namespace gf {

enum class LogitsMode { kNone, kLast, kAll };

struct ForwardSegment {
  SequenceState* state = nullptr;
  std::span<const int32_t> tokens;  // >= 1 new tokens
  LogitsMode logits_mode = LogitsMode::kLast;
  // Destination of [1 or T, vocab] F32 logits (caller-owned, that many floats); required unless
  // logits_mode == kNone.
  float* logits = nullptr;
};

struct ForwardOptions {
  // Spans of at least this many tokens use the chunk-parallel WKV form; shorter ones the step form.
  int wkv_chunked_min_tokens = 16;
};

struct PrefillOptions {
  int64_t chunk_tokens = 512;  // tokens per internal Forward call (bounds activation memory)
  bool all_logits = false;     // logits for every prompt position (else only the last)
};

class GoldFinchModel {
 public:
  static StatusOr<std::unique_ptr<GoldFinchModel>> Load(const std::string& model_dir,
                                                        const WeightLoadOptions& options = {});
  explicit GoldFinchModel(ModelWeights weights, ForwardOptions options = {});

  const ModelConfig& config() const { return weights_.config; }
  const ModelWeights& weights() const { return weights_; }
  kernels::DType kv_dtype() const { return weights_.matrix_dtype; }
  ForwardOptions& options() { return options_; }

  // A fresh, empty state for this model.
  SequenceState NewState() const { return SequenceState(config(), kv_dtype()); }

  // Runs new tokens for each segment. Validates everything (ids in range, states made for this
  // model with materialised K/V, distinct states, logits outputs present) before changing any
  // state; InvalidArgument on bad input.
  Status Forward(std::span<const ForwardSegment> segments);

  // Prefills `tokens` into `state` in chunks; `logits` gets [1, V] (last position) or [T, V].
  Status Prefill(SequenceState& state, std::span<const int32_t> tokens,
                 const PrefillOptions& options, std::vector<float>* logits);

  // One decode step for a batch: states[i] consumes tokens[i]; logits gets [B, V].
  Status DecodeStep(std::span<SequenceState* const> states, std::span<const int32_t> tokens,
                    std::vector<float>* logits);

  // Rebuilds the materialised GOLD K/V (and carry rows) of a restored state from its tokens and
  // compressed rows; no Finch-stack recomputation. Const in effect: it reads only the weights and
  // uses its own scratch, so it may run on another thread at the same time as Forward (the
  // serving engine rebuilds restored prefixes on its cache thread). Two threads share the
  // kernels' pool: whichever starts a parallel kernel second runs it on its own thread.
  Status Rematerialize(SequenceState& state) const;

 private:
  Status ValidateSegments(std::span<const ForwardSegment> segments) const;
  Status Embed(std::span<const ForwardSegment> segments, const kernels::TensorView& x0);
  Status RunGoldTail(std::span<const ForwardSegment> segments,
                     const std::vector<model::RowSpan>& spans, const kernels::TensorView& h);

  ModelWeights weights_;
  ForwardOptions options_;
  model::GoldKvF32Matrices kv_matrices_;  // for the row-block-parallel K/V pass
  model::Workspace ws_;
  std::vector<float> x0_, x_, compressed_, gold_x_, layer_x_, head_in_;
};

}  // namespace gf
