// SequenceState: everything needed to continue one sequence exactly, after any token.
//
// Recurrent part (constant size, model doc section 5.2): per Finch-C2 layer the WKV state
// [H, N, N] ([h][value i][key j]); per layer (all L) the time-mix and channel-mix shift states
// (the LN1 / LN2 outputs at the last position; for GOLD layers the time-mix shift is the GOLD query
// shift); the carry rows kc_{n-1} [A] and o~_{n-1} [C] for the GOLD K/V token shift.
// Per-token part: the token ids and the compressed cache rows c_p = W_a h_p (c floats each).
// Derived cache: the materialised K and V rows of every GOLD layer for all n positions (section
// 6.4), rebuilt from the per-token part by GoldFinchModel::Rematerialize after a restore.
//
// Units: positions are absolute token indices 0..n-1; all floats are F32, K/V rows are stored in
// `kv_dtype` (F32 or BF16). Ownership: owns its buffers; movable and copyable (a copy is a fork of
// the sequence). Thread-safety: none; one owner at a time (the engine thread).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/model/config.h"
#include "kernels/tensor.h"

namespace gf {

// Format versions of Serialize() and SerializeRecurrent() (docs/state_format.md).
inline constexpr uint32_t kStateFormatVersion = 1;
inline constexpr uint32_t kRecurrentStateFormatVersion = 1;

class SequenceState {
 public:
  SequenceState() = default;
  SequenceState(const ModelConfig& config, kernels::DType kv_dtype);

  // Shape parameters this state was made for.
  int n_layer() const { return n_layer_; }
  int n_embd() const { return n_embd_; }
  int first_gold_layer() const { return first_gold_; }
  int n_gold() const { return n_layer_ - first_gold_; }
  int compressed_dim() const { return compressed_dim_; }
  int head_size() const { return head_size_; }
  kernels::DType kv_dtype() const { return kv_dtype_; }
  // A hash of the shape parameters; states only combine with models of equal fingerprint.
  uint64_t shape_fingerprint() const { return shape_fingerprint_; }

  // Number of tokens processed (the absolute position of the next token).
  int64_t num_tokens() const { return static_cast<int64_t>(tokens_.size()); }
  std::span<const int32_t> tokens() const { return tokens_; }
  // Compressed rows, [num_tokens, compressed_dim] row-major.
  std::span<const float> compressed_rows() const { return compressed_; }

  // Recurrent state accessors (pointers valid until the state is destroyed or moved).
  float* wkv_state(int layer) { return wkv_.data() + static_cast<size_t>(layer) * wkv_size_; }
  const float* wkv_state(int layer) const {
    return wkv_.data() + static_cast<size_t>(layer) * wkv_size_;
  }
  float* att_shift(int layer) { return att_shift_.data() + static_cast<size_t>(layer) * n_embd_; }
  const float* att_shift(int layer) const {
    return att_shift_.data() + static_cast<size_t>(layer) * n_embd_;
  }
  float* ffn_shift(int layer) { return ffn_shift_.data() + static_cast<size_t>(layer) * n_embd_; }
  const float* ffn_shift(int layer) const {
    return ffn_shift_.data() + static_cast<size_t>(layer) * n_embd_;
  }
  float* carry_kc() { return carry_kc_.data(); }
  const float* carry_kc() const { return carry_kc_.data(); }
  float* carry_o() { return carry_o_.data(); }
  const float* carry_o() const { return carry_o_.data(); }
  size_t wkv_elements_per_layer() const { return wkv_size_; }

  // Materialised GOLD keys/values of GOLD layer g (0-based among GOLD layers): [kv_rows, A].
  bool kv_materialised() const { return kv_rows_ == num_tokens(); }
  int64_t kv_rows() const { return kv_rows_; }
  kernels::TensorView keys(int g) const;
  kernels::TensorView values(int g) const;

  // ---- mutation (used by GoldFinchModel) ----
  // Appends tokens and their compressed rows ([count, c] row-major).
  void AppendTokens(std::span<const int32_t> ids, const float* compressed);
  // Makes room for `count` more K/V rows in every GOLD layer; PendingKeys/PendingValues are the
  // views (kv_dtype) of those new rows of GOLD layer g, and CommitKv makes them visible. Views
  // are invalidated by the next ReserveKv.
  void ReserveKv(int64_t count);
  kernels::TensorView PendingKeys(int g, int64_t count);
  kernels::TensorView PendingValues(int g, int64_t count);
  void CommitKv(int64_t count);
  // Reserves room for `rows` K/V rows in every GOLD layer without touching it (so appending up to
  // that many rows never moves the buffers; untouched pages cost no memory).
  void ReserveKvCapacity(int64_t rows);
  // Drops the materialised K/V (e.g. to save memory while idle); Rematerialize rebuilds them.
  void DropKv();
  // For a state without K/V and with num_tokens() == rows: copies K/V rows 0..rows of every GOLD
  // layer from `from` (same shape and kv dtype, at least `rows` rows; the caller checks that its
  // first `rows` tokens are this state's). InvalidArgument otherwise. The carry rows stay as they
  // are (a restored snapshot has the exact ones).
  Status CopyKvPrefix(const SequenceState& from, int64_t rows);

  // Bytes held: recurrent + per-token + materialised K/V.
  size_t recurrent_bytes() const;
  size_t token_bytes() const;
  size_t kv_bytes() const;

  // ---- serialisation (format documented in docs/state_format.md) ----
  // Serialises the recurrent and per-token parts (not the derived K/V), with a checksum.
  std::string Serialize() const;
  // Restores from Serialize() output. The result has no materialised K/V: call
  // GoldFinchModel::Rematerialize before continuing. DataLoss on checksum/size mismatch,
  // InvalidArgument when the shape does not match `config`.
  static StatusOr<SequenceState> Deserialize(std::string_view bytes, const ModelConfig& config,
                                             kernels::DType kv_dtype);

  // The recurrent part alone (WKV, shifts, carry rows) with the shape fingerprint, the
  // dimensions and a checksum; no tokens, rows or K/V (docs/state_format.md, "recurrent-only").
  // Its size depends only on the model shape. Used by the prefix cache, which stores the
  // per-token part in shared row segments.
  std::string SerializeRecurrent() const;
  // Assembles a state from its parts: `tokens` (n ids), `rows` ([n, compressed_dim] compressed
  // rows) and `recurrent` (SerializeRecurrent() output), checked like Deserialize (DataLoss on a
  // checksum/size mismatch or a token id outside the vocabulary, InvalidArgument when the shape
  // does not match `config` or rows.size() != n * compressed_dim). No K/V is materialised: call
  // GoldFinchModel::Rematerialize before continuing.
  static StatusOr<SequenceState> FromParts(const ModelConfig& config, kernels::DType kv_dtype,
                                           std::span<const int32_t> tokens,
                                           std::span<const float> rows, std::string_view recurrent);

 private:
  friend class StateSerializer;
  void Init(const ModelConfig& config, kernels::DType kv_dtype);

  int n_layer_ = 0, n_embd_ = 0, dim_att_ = 0, first_gold_ = 0, compressed_dim_ = 0;
  int head_size_ = 0, n_head_ = 0, vocab_size_ = 0;
  uint64_t shape_fingerprint_ = 0;
  kernels::DType kv_dtype_ = kernels::DType::kF32;
  size_t wkv_size_ = 0;

  std::vector<int32_t> tokens_;
  std::vector<float> compressed_;
  std::vector<float> wkv_;        // first_gold * H*N*N
  std::vector<float> att_shift_;  // L * C
  std::vector<float> ffn_shift_;  // L * C
  std::vector<float> carry_kc_;   // A
  std::vector<float> carry_o_;    // C

  int64_t kv_rows_ = 0;                     // committed K/V rows
  std::vector<std::vector<uint8_t>> keys_;  // per GOLD layer, capacity-managed bytes
  std::vector<std::vector<uint8_t>> values_;
};

// Hash of the shape parameters of a config (what a state depends on).
uint64_t ShapeFingerprint(const ModelConfig& config);

}  // namespace gf
