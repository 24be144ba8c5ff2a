// SequenceState serialisation. Byte layouts (little-endian), see docs/state_format.md:
//
// Full state (Serialize / Deserialize):
//   magic "GFSEQST\0" | u32 version | u32 reserved | u64 shape fingerprint |
//   u32 n_layer, n_embd, dim_att, head_size, first_gold_layer, compressed_dim, vocab_size, 0 |
//   u64 n | i32 tokens[n] | f32 compressed[n*c] | f32 wkv[s*H*N*N] | f32 att_shift[L*C] |
//   f32 ffn_shift[L*C] | f32 carry_kc[A] | f32 carry_o[C] | u32 crc32c(all preceding bytes)
// Recurrent part only (SerializeRecurrent / FromParts):
//   magic "GFRECST\0" | u32 version | u32 reserved | u64 shape fingerprint | u32 dims x 8 (as
//   above) | f32 wkv | f32 att_shift | f32 ffn_shift | f32 carry_kc | f32 carry_o | u32 crc32c
#include <bit>
#include <cstring>
#include <limits>

#include "common/checksum.h"
#include "engine/sequence_state.h"

namespace gf {

namespace {

static_assert(std::endian::native == std::endian::little,
              "the state formats are little-endian and written with memcpy");

constexpr char kMagic[8] = {'G', 'F', 'S', 'E', 'Q', 'S', 'T', '\0'};
constexpr char kRecurrentMagic[8] = {'G', 'F', 'R', 'E', 'C', 'S', 'T', '\0'};
constexpr uint32_t kVersion = kStateFormatVersion;
constexpr uint32_t kRecurrentVersion = kRecurrentStateFormatVersion;
// magic, version, reserved, fingerprint, 8 dims
constexpr size_t kShapeHeaderBytes = 8 + 4 + 4 + 8 + 8 * 4;
constexpr size_t kHeaderBytes = kShapeHeaderBytes + 8;  // + u64 n

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

// Checks the size, the trailing CRC-32C and the magic of a record; returns the bytes without
// the CRC.
StatusOr<std::string_view> CheckFrame(std::string_view bytes, const char (&magic)[8],
                                      size_t min_bytes, const char* what) {
  if (bytes.size() < min_bytes + 4) return DataLoss(std::string(what) + ": truncated header");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  if (Crc32c(bytes.data(), bytes.size() - 4) != stored_crc) {
    return DataLoss(std::string(what) + ": checksum mismatch");
  }
  if (std::memcmp(bytes.data(), magic, sizeof(magic)) != 0) {
    return DataLoss(std::string(what) + ": bad magic");
  }
  return bytes.substr(0, bytes.size() - 4);
}

}  // namespace

class StateSerializer {
 public:
  static std::string Serialize(const SequenceState& s) {
    std::string out;
    out.reserve(kHeaderBytes + s.token_bytes() + s.recurrent_bytes() + 4);
    PutShapeHeader(out, s, kMagic, kVersion);
    Put(out, static_cast<uint64_t>(s.tokens_.size()));
    PutArray(out, s.tokens_);
    PutArray(out, s.compressed_);
    PutRecurrent(out, s);
    Put(out, Crc32c(out.data(), out.size()));
    return out;
  }

  static std::string SerializeRecurrent(const SequenceState& s) {
    std::string out;
    out.reserve(kShapeHeaderBytes + s.recurrent_bytes() + 4);
    PutShapeHeader(out, s, kRecurrentMagic, kRecurrentVersion);
    PutRecurrent(out, s);
    Put(out, Crc32c(out.data(), out.size()));
    return out;
  }

  static StatusOr<SequenceState> Deserialize(std::string_view bytes, const ModelConfig& config,
                                             kernels::DType kv_dtype) {
    GF_ASSIGN_OR_RETURN(std::string_view body, CheckFrame(bytes, kMagic, kHeaderBytes, "state"));
    Reader in(body);
    SequenceState s(config, kv_dtype);
    GF_RETURN_IF_ERROR(ReadShapeHeader(in, s, kVersion, "state"));
    uint64_t n = 0;
    if (!in.Get(&n)) return DataLoss("state: truncated");
    const size_t c = static_cast<size_t>(s.compressed_dim_);
    if (n > std::numeric_limits<uint32_t>::max() || n * (4 + 4 * c) > bytes.size()) {
      return DataLoss("state: token count " + std::to_string(n) + " exceeds the record size");
    }
    const bool ok =
        in.GetArray(&s.tokens_, n) && in.GetArray(&s.compressed_, n * c) && ReadRecurrent(in, s);
    if (!ok || in.pos() != body.size()) return DataLoss("state: size does not match layout");
    GF_RETURN_IF_ERROR(CheckTokenIds(s));
    return s;
  }

  static StatusOr<SequenceState> FromParts(const ModelConfig& config, kernels::DType kv_dtype,
                                           std::span<const int32_t> tokens,
                                           std::span<const float> rows,
                                           std::string_view recurrent) {
    GF_ASSIGN_OR_RETURN(std::string_view body, CheckFrame(recurrent, kRecurrentMagic,
                                                          kShapeHeaderBytes, "recurrent state"));
    Reader in(body);
    SequenceState s(config, kv_dtype);
    GF_RETURN_IF_ERROR(ReadShapeHeader(in, s, kRecurrentVersion, "recurrent state"));
    if (!ReadRecurrent(in, s) || in.pos() != body.size()) {
      return DataLoss("recurrent state: size does not match layout");
    }
    const size_t c = static_cast<size_t>(s.compressed_dim_);
    // tokens.size() < 2^32 and c < 2^31, so the product cannot overflow.
    if (tokens.size() > std::numeric_limits<uint32_t>::max() || rows.size() != tokens.size() * c) {
      return InvalidArgument("state parts: " + std::to_string(rows.size()) +
                             " compressed values for " + std::to_string(tokens.size()) +
                             " tokens of width " + std::to_string(c));
    }
    s.tokens_.assign(tokens.begin(), tokens.end());
    s.compressed_.assign(rows.begin(), rows.end());
    GF_RETURN_IF_ERROR(CheckTokenIds(s));
    return s;
  }

 private:
  static void PutShapeHeader(std::string& out, const SequenceState& s, const char (&magic)[8],
                             uint32_t version) {
    out.append(magic, sizeof(magic));
    Put(out, version);
    Put(out, uint32_t{0});
    Put(out, s.shape_fingerprint_);
    for (int v : {s.n_layer_, s.n_embd_, s.dim_att_, s.head_size_, s.first_gold_, s.compressed_dim_,
                  s.vocab_size_, 0}) {
      Put(out, static_cast<uint32_t>(v));
    }
  }

  static void PutRecurrent(std::string& out, const SequenceState& s) {
    PutArray(out, s.wkv_);
    PutArray(out, s.att_shift_);
    PutArray(out, s.ffn_shift_);
    PutArray(out, s.carry_kc_);
    PutArray(out, s.carry_o_);
  }

  // Reads the header after a verified magic and checks the version, every dimension against the
  // state `s` was made for (InvalidArgument naming it) and the shape fingerprint.
  static Status ReadShapeHeader(Reader& in, const SequenceState& s, uint32_t expected_version,
                                const char* what) {
    char magic[8];
    uint32_t version = 0, reserved = 0;
    uint64_t fingerprint = 0;
    uint32_t dims[8];
    (void)in.Get(&magic);  // the caller guaranteed the header's size
    (void)in.Get(&version);
    (void)in.Get(&reserved);
    (void)in.Get(&fingerprint);
    for (uint32_t& d : dims) (void)in.Get(&d);
    if (version != expected_version) {
      return InvalidArgument(std::string(what) + ": unsupported format version " +
                             std::to_string(version));
    }
    const int expected[7] = {s.n_layer_,    s.n_embd_,         s.dim_att_,   s.head_size_,
                             s.first_gold_, s.compressed_dim_, s.vocab_size_};
    const char* names[7] = {"n_layer",          "n_embd",         "dim_att",   "head_size",
                            "first_gold_layer", "compressed_dim", "vocab_size"};
    for (int i = 0; i < 7; ++i) {
      if (dims[i] != static_cast<uint32_t>(expected[i])) {
        return InvalidArgument(std::string(what) + ": " + names[i] + " " + std::to_string(dims[i]) +
                               " does not match the model's " + std::to_string(expected[i]));
      }
    }
    if (fingerprint != s.shape_fingerprint_) {
      return InvalidArgument(std::string(what) + ": shape fingerprint does not match the model");
    }
    return Status::Ok();
  }

  static bool ReadRecurrent(Reader& in, SequenceState& s) {
    const size_t wkv = s.wkv_.size(), shifts = s.att_shift_.size();
    return in.GetArray(&s.wkv_, wkv) && in.GetArray(&s.att_shift_, shifts) &&
           in.GetArray(&s.ffn_shift_, shifts) &&
           in.GetArray(&s.carry_kc_, static_cast<size_t>(s.dim_att_)) &&
           in.GetArray(&s.carry_o_, static_cast<size_t>(s.n_embd_));
  }

  static Status CheckTokenIds(const SequenceState& s) {
    for (int32_t id : s.tokens_) {
      if (id < 0 || id >= s.vocab_size_) return DataLoss("state: token id out of range");
    }
    return Status::Ok();
  }
};

std::string SequenceState::Serialize() const { return StateSerializer::Serialize(*this); }

std::string SequenceState::SerializeRecurrent() const {
  return StateSerializer::SerializeRecurrent(*this);
}

StatusOr<SequenceState> SequenceState::Deserialize(std::string_view bytes,
                                                   const ModelConfig& config,
                                                   kernels::DType kv_dtype) {
  return StateSerializer::Deserialize(bytes, config, kv_dtype);
}

StatusOr<SequenceState> SequenceState::FromParts(const ModelConfig& config, kernels::DType kv_dtype,
                                                 std::span<const int32_t> tokens,
                                                 std::span<const float> rows,
                                                 std::string_view recurrent) {
  return StateSerializer::FromParts(config, kv_dtype, tokens, rows, recurrent);
}

}  // namespace gf
