// Internal to the model: the GoldFinch sublayers as functions over packed activation rows.
//
// Several sequences are processed together: their rows are packed one after another in one
// activation matrix; each RowSpan says which rows belong to which sequence, whether the first
// row's token-shift comes from the sequence's state or is zero (the first row of a GOLD window,
// whose own output is then discarded), and the absolute position of the first row. GEMMs run
// over all rows at once; token shift, WKV and attention run per span.
// All functions are called on the engine thread, use the model's Workspace for temporaries (the
// K/V pass's parallel blocks use per-thread ones), and update the spans' SequenceState
// shift/WKV states in place (the last row of each span).
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "engine/model/model_weights.h"
#include "engine/sequence_state.h"
#include "kernels/kernels.h"

namespace gf::model {

struct RowSpan {
  int64_t begin = 0;  // first row in the packed matrix
  int64_t count = 0;  // rows
  SequenceState* state = nullptr;
  bool shift_from_state = true;
  int64_t first_pos = 0;  // absolute position of row `begin`
};

// Grow-only F32 scratch matrices, one per slot. Views stay valid until the same slot is
// requested again with a larger size.
class Workspace {
 public:
  enum Slot : int {
    kLn,
    kDelta,
    kMixA,
    kMixR,
    kMixK,
    kMixV,
    kMixW,
    kMixV2,
    kLoraMid,
    kLoraUp,
    kR,
    kK,
    kV,
    kV2,
    kWhat,
    kY,
    kFfnK,
    kFfnR,
    kFfnV,
    kO,
    kDo,
    kKc,
    kDk,
    kKappa,
    kNu,
    kMk,
    kMv,
    kLoraMid2,
    kQ,
    kAttn,
    kSlotCount
  };
  kernels::TensorView Get(Slot slot, int64_t rows, int64_t cols);

 private:
  std::vector<float> buffers_[kSlotCount];
};

// The matrices of the K/V path (decompression W_b and each GOLD layer's K/V LoRAs).
struct GoldKvMatrices {
  kernels::TensorView b_x0, b_c;  // [A, C] and [A, c]
  struct Layer {
    kernels::TensorView kv_w1, kv_w2[2], key_w1, key_w2, value_w1, value_w2;
  };
  std::vector<Layer> layers;  // per GOLD layer
};

// F32 copies of the K/V-path matrices of a BF16 model (views of the stored ones for an F32
// model), for the row-block-parallel K/V pass: widening them once per model instead of once per
// block GEMM. About 12 MB for L12-D768, 52 MB for L24-D2048. Not copyable (views into storage).
class GoldKvF32Matrices {
 public:
  explicit GoldKvF32Matrices(const ModelWeights& weights);
  GoldKvF32Matrices(const GoldKvF32Matrices&) = delete;
  GoldKvF32Matrices& operator=(const GoldKvF32Matrices&) = delete;
  const GoldKvMatrices& views() const { return views_; }
  size_t bytes() const { return storage_.size() * sizeof(float); }

 private:
  GoldKvMatrices views_;
  std::vector<float> storage_;
};

struct LayerContext {
  const ModelConfig& config;
  Workspace& ws;
  int wkv_chunked_min_tokens = 16;  // spans at least this long use the chunked WKV form
  // F32 K/V-path matrices for the row-block-parallel K/V pass; nullptr runs every K/V batch as
  // one block on the calling thread.
  const GoldKvMatrices* kv_matrices = nullptr;
};

// x += FinchC2TimeMix(LN1(x)) for Finch-C2 block `layer`, all spans.
Status FinchTimeMix(const LayerContext& ctx, const BlockWeights& block, int layer,
                    const kernels::TensorView& x, const std::vector<RowSpan>& spans);

// x += ChannelMix(LN2(x)) for block `layer` (any block type), all spans.
Status ChannelMix(const LayerContext& ctx, const BlockWeights& block, int layer,
                  const kernels::TensorView& x, const std::vector<RowSpan>& spans);

// x += GoldTimeMix(LN1(x)) for GOLD block `layer`; attention reads each span's materialised K/V
// (which must already include the span's positions).
Status GoldTimeMix(const LayerContext& ctx, const BlockWeights& block, int layer,
                   const kernels::TensorView& x, const std::vector<RowSpan>& spans);

// TokenCat and GOLD K/V for new rows (gold_kv.cc): given x0 (ln0 outputs) and h (residual after the
// last Finch-C2 block) for all spans' rows, computes c = W_a h (into `compressed`, [rows, c]), kc =
// rmsn(W_b [x0; c]), o~ = rmsn(x0), then every GOLD layer's K and V rows, appends them to each
// span's state (K/V only; tokens and compressed rows are appended by the caller) and updates the
// carry rows. Spans must all have shift_from_state = true (whole new chunks).
Status TokenCatAndGoldKv(const LayerContext& ctx, const ModelWeights& weights,
                         const kernels::TensorView& x0, const kernels::TensorView& h,
                         const kernels::TensorView& compressed, const std::vector<RowSpan>& spans);

// Rebuilds GOLD K/V for rows of compressed cache entries (tokens + c rows), used after a state
// restore: same math as TokenCatAndGoldKv but starting from stored c instead of h.
// With ctx.kv_matrices, batches of at least 128 rows run as parallel blocks of 64+ rows on the
// kernel thread pool (each block's kernels single-threaded; results equal the one-block pass,
// as every GEMM takes the same sgemm path); shorter ones run on the calling thread.
Status GoldKvFromCompressed(const LayerContext& ctx, const ModelWeights& weights,
                            const kernels::TensorView& x0, const kernels::TensorView& compressed,
                            const std::vector<RowSpan>& spans);

enum class ShiftKind { kTimeMix, kChannelMix };

// ln = LN(x), then delta = shift(ln) per span, where the row before each span is the state's
// time-mix or channel-mix shift of `layer` (or zero when !shift_from_state); saves each span's
// last ln row back into that state shift.
Status NormAndShift(const kernels::TensorView& x, const LayerNormWeights& norm,
                    const kernels::TensorView& ln, const kernels::TensorView& delta,
                    const std::vector<RowSpan>& spans, ShiftKind kind, int layer);

// Per span: delta rows for x (token shift) with x[-1] = the given previous row (nullptr: zero)
// and writes the span's last x row into `save_last` (may be nullptr).
Status ShiftSpans(const kernels::TensorView& x, const kernels::TensorView& delta,
                  const std::vector<RowSpan>& spans, const std::vector<const float*>& prev,
                  const std::vector<float*>& save_last);

}  // namespace gf::model
