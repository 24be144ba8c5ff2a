// SequenceState::Serialize / Deserialize. Byte layout (little-endian), see docs/state_format.md:
//   magic "GFSEQST\0" | u32 version | u32 reserved | u64 shape fingerprint |
//   u32 n_layer, n_embd, dim_att, head_size, first_gold_layer, compressed_dim, vocab_size, 0 |
//   u64 n | i32 tokens[n] | f32 compressed[n*c] | f32 wkv[s*H*N*N] | f32 att_shift[L*C] |
//   f32 ffn_shift[L*C] | f32 carry_kc[A] | f32 carry_o[C] | u32 crc32c(all preceding bytes)
#include <cstring>
#include <limits>

#include "common/checksum.h"
#include "engine/sequence_state.h"

namespace gf {

namespace {

constexpr char kMagic[8] = {'G', 'F', 'S', 'E', 'Q', 'S', 'T', '\0'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8 * 4 + 8;

template <typename T>
void Put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <typename T>
void PutArray(std::string& out, const std::vector<T>& v) {
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  bool Get(T* v) {
    if (bytes_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  template <typename T>
  bool GetArray(std::vector<T>* v, size_t count) {
    if (count > (bytes_.size() - pos_) / sizeof(T)) return false;
    v->resize(count);
    std::memcpy(v->data(), bytes_.data() + pos_, count * sizeof(T));
    pos_ += count * sizeof(T);
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace

class StateSerializer {
 public:
  static std::string Serialize(const SequenceState& s) {
    std::string out;
    out.reserve(kHeaderBytes + s.token_bytes() + s.recurrent_bytes() + 4);
    out.append(kMagic, sizeof(kMagic));
    Put(out, kVersion);
    Put(out, uint32_t{0});
    Put(out, s.shape_fingerprint_);
    for (int v : {s.n_layer_, s.n_embd_, s.dim_att_, s.head_size_, s.first_gold_,
                  s.compressed_dim_, s.vocab_size_, 0}) {
      Put(out, static_cast<uint32_t>(v));
    }
    Put(out, static_cast<uint64_t>(s.tokens_.size()));
    PutArray(out, s.tokens_);
    PutArray(out, s.compressed_);
    PutArray(out, s.wkv_);
    PutArray(out, s.att_shift_);
    PutArray(out, s.ffn_shift_);
    PutArray(out, s.carry_kc_);
    PutArray(out, s.carry_o_);
    Put(out, Crc32c(out.data(), out.size()));
    return out;
  }

  static StatusOr<SequenceState> Deserialize(std::string_view bytes, const ModelConfig& config,
                                             kernels::DType kv_dtype) {
    if (bytes.size() < kHeaderBytes + 4) return DataLoss("state: truncated header");
    uint32_t stored_crc;
    std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
    if (Crc32c(bytes.data(), bytes.size() - 4) != stored_crc) {
      return DataLoss("state: checksum mismatch");
    }
    if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
      return DataLoss("state: bad magic");
    }
    Reader in(bytes.substr(0, bytes.size() - 4));
    char magic[8];
    uint32_t version = 0, reserved = 0;
    uint64_t fingerprint = 0;
    uint32_t dims[8];
    (void)in.Get(&magic);
    (void)in.Get(&version);
    (void)in.Get(&reserved);
    (void)in.Get(&fingerprint);
    for (uint32_t& d : dims) (void)in.Get(&d);
    if (version != kVersion) {
      return InvalidArgument("state: unsupported format version " + std::to_string(version));
    }
    SequenceState s(config, kv_dtype);
    const int expected[7] = {s.n_layer_, s.n_embd_, s.dim_att_, s.head_size_, s.first_gold_,
                             s.compressed_dim_, s.vocab_size_};
    const char* names[7] = {"n_layer", "n_embd", "dim_att", "head_size", "first_gold_layer",
                            "compressed_dim", "vocab_size"};
    for (int i = 0; i < 7; ++i) {
      if (dims[i] != static_cast<uint32_t>(expected[i])) {
        return InvalidArgument(std::string("state: ") + names[i] + " " + std::to_string(dims[i]) +
                               " does not match the model's " + std::to_string(expected[i]));
      }
    }
    if (fingerprint != s.shape_fingerprint_) {
      return InvalidArgument("state: shape fingerprint does not match the model");
    }
    uint64_t n = 0;
    if (!in.Get(&n)) return DataLoss("state: truncated");
    const size_t c = static_cast<size_t>(s.compressed_dim_);
    if (n > std::numeric_limits<uint32_t>::max() || n * (4 + 4 * c) > bytes.size()) {
      return DataLoss("state: token count " + std::to_string(n) + " exceeds the record size");
    }
    const size_t wkv = s.wkv_.size(), shifts = s.att_shift_.size();
    bool ok = in.GetArray(&s.tokens_, n) && in.GetArray(&s.compressed_, n * c) &&
              in.GetArray(&s.wkv_, wkv) && in.GetArray(&s.att_shift_, shifts) &&
              in.GetArray(&s.ffn_shift_, shifts) &&
              in.GetArray(&s.carry_kc_, static_cast<size_t>(s.dim_att_)) &&
              in.GetArray(&s.carry_o_, static_cast<size_t>(s.n_embd_));
    if (!ok || in.pos() != bytes.size() - 4) return DataLoss("state: size does not match layout");
    for (int32_t id : s.tokens_) {
      if (id < 0 || id >= s.vocab_size_) return DataLoss("state: token id out of range");
    }
    return s;
  }
};

std::string SequenceState::Serialize() const { return StateSerializer::Serialize(*this); }

StatusOr<SequenceState> SequenceState::Deserialize(std::string_view bytes,
                                                   const ModelConfig& config,
                                                   kernels::DType kv_dtype) {
  return StateSerializer::Deserialize(bytes, config, kv_dtype);
}

}  // namespace gf
