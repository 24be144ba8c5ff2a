#include "engine/sequence_state.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace gf {

namespace {

uint64_t Mix(uint64_t h, uint64_t v) {
  // FNV-1a over the 8 bytes of v.
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xffu;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

uint64_t ShapeFingerprint(const ModelConfig& config) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int64_t v : {int64_t{config.n_layer}, int64_t{config.n_embd}, int64_t{config.dim_att},
                    int64_t{config.dim_ffn}, int64_t{config.head_size}, int64_t{config.vocab_size},
                    int64_t{config.first_gold_layer}, int64_t{config.compressed_dim},
                    int64_t{config.gold_lora_dim}, int64_t{config.rope.enabled ? 1 : 0}}) {
    h = Mix(h, static_cast<uint64_t>(v));
  }
  return h;
}

SequenceState::SequenceState(const ModelConfig& config, kernels::DType kv_dtype) {
  Init(config, kv_dtype);
}

void SequenceState::Init(const ModelConfig& config, kernels::DType kv_dtype) {
  n_layer_ = config.n_layer;
  n_embd_ = config.n_embd;
  dim_att_ = config.dim_att;
  first_gold_ = config.first_gold_layer;
  compressed_dim_ = config.compressed_dim;
  head_size_ = config.head_size;
  n_head_ = config.n_head;
  vocab_size_ = config.vocab_size;
  shape_fingerprint_ = ShapeFingerprint(config);
  kv_dtype_ = kv_dtype;
  wkv_size_ = static_cast<size_t>(n_head_) * head_size_ * head_size_;
  tokens_.clear();
  compressed_.clear();
  wkv_.assign(static_cast<size_t>(first_gold_) * wkv_size_, 0.0f);
  att_shift_.assign(static_cast<size_t>(n_layer_) * n_embd_, 0.0f);
  ffn_shift_.assign(static_cast<size_t>(n_layer_) * n_embd_, 0.0f);
  carry_kc_.assign(static_cast<size_t>(dim_att_), 0.0f);
  carry_o_.assign(static_cast<size_t>(n_embd_), 0.0f);
  kv_rows_ = 0;
  keys_.assign(static_cast<size_t>(n_layer_ - first_gold_), {});
  values_.assign(static_cast<size_t>(n_layer_ - first_gold_), {});
}

kernels::TensorView SequenceState::keys(int g) const {
  auto& buf = keys_[static_cast<size_t>(g)];
  return kernels::Mat(const_cast<uint8_t*>(buf.data()), kv_dtype_, kv_rows_, dim_att_);
}

kernels::TensorView SequenceState::values(int g) const {
  auto& buf = values_[static_cast<size_t>(g)];
  return kernels::Mat(const_cast<uint8_t*>(buf.data()), kv_dtype_, kv_rows_, dim_att_);
}

void SequenceState::AppendTokens(std::span<const int32_t> ids, const float* compressed) {
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
  compressed_.insert(compressed_.end(), compressed,
                     compressed + ids.size() * static_cast<size_t>(compressed_dim_));
}

void SequenceState::ReserveKv(int64_t count) {
  const size_t row_bytes = static_cast<size_t>(dim_att_) * kernels::DTypeSize(kv_dtype_);
  const size_t need = static_cast<size_t>(kv_rows_ + count) * row_bytes;
  for (auto* group : {&keys_, &values_}) {
    for (auto& buf : *group) {
      if (buf.size() < need) buf.resize(need);
    }
  }
}

kernels::TensorView SequenceState::PendingKeys(int g, int64_t count) {
  const size_t row_bytes = static_cast<size_t>(dim_att_) * kernels::DTypeSize(kv_dtype_);
  return kernels::Mat(keys_[static_cast<size_t>(g)].data() + kv_rows_ * row_bytes, kv_dtype_, count,
                      dim_att_);
}

kernels::TensorView SequenceState::PendingValues(int g, int64_t count) {
  const size_t row_bytes = static_cast<size_t>(dim_att_) * kernels::DTypeSize(kv_dtype_);
  return kernels::Mat(values_[static_cast<size_t>(g)].data() + kv_rows_ * row_bytes, kv_dtype_,
                      count, dim_att_);
}

void SequenceState::CommitKv(int64_t count) { kv_rows_ += count; }

void SequenceState::ReserveKvCapacity(int64_t rows) {
  if (rows <= 0) return;
  const size_t bytes =
      static_cast<size_t>(rows) * static_cast<size_t>(dim_att_) * kernels::DTypeSize(kv_dtype_);
  for (auto* group : {&keys_, &values_}) {
    for (auto& buf : *group) buf.reserve(bytes);
  }
}

Status SequenceState::CopyKvPrefix(const SequenceState& from, int64_t rows) {
  if (from.shape_fingerprint_ != shape_fingerprint_ || from.kv_dtype_ != kv_dtype_) {
    return InvalidArgument("copy K/V: the states were made for different models");
  }
  if (kv_rows_ != 0 || rows != num_tokens() || rows > from.kv_rows_ || rows < 0) {
    return InvalidArgument("copy K/V: " + std::to_string(rows) + " rows do not fit (source has " +
                           std::to_string(from.kv_rows_) + ", target " +
                           std::to_string(num_tokens()) + " tokens)");
  }
  const size_t bytes =
      static_cast<size_t>(rows) * static_cast<size_t>(dim_att_) * kernels::DTypeSize(kv_dtype_);
  ReserveKv(rows);
  for (size_t g = 0; g < keys_.size(); ++g) {
    if (bytes == 0) break;
    std::copy_n(from.keys_[g].data(), bytes, keys_[g].data());
    std::copy_n(from.values_[g].data(), bytes, values_[g].data());
  }
  CommitKv(rows);
  return Status::Ok();
}

void SequenceState::DropKv() {
  kv_rows_ = 0;
  for (auto* group : {&keys_, &values_}) {
    for (auto& buf : *group) {
      buf.clear();
      buf.shrink_to_fit();
    }
  }
}

size_t SequenceState::recurrent_bytes() const {
  return sizeof(float) *
         (wkv_.size() + att_shift_.size() + ffn_shift_.size() + carry_kc_.size() + carry_o_.size());
}

size_t SequenceState::token_bytes() const {
  return sizeof(int32_t) * tokens_.size() + sizeof(float) * compressed_.size();
}

size_t SequenceState::kv_bytes() const {
  return 2 * static_cast<size_t>(n_layer_ - first_gold_) * static_cast<size_t>(kv_rows_) *
         static_cast<size_t>(dim_att_) * kernels::DTypeSize(kv_dtype_);
}

}  // namespace gf
