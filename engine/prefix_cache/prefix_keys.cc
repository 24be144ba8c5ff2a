#include "engine/prefix_cache/prefix_keys.h"

#include <bit>
#include <cassert>
#include <cstring>

namespace gf {

namespace {

// Largest message: 'B' | chain | u32 | 16 ids = 101 bytes.
constexpr size_t kMaxMessage = 1 + 32 + 4 + 4 * kKeyBlockTokens;

// A small fixed buffer that the key messages are assembled in (no allocation per key).
class Message {
 public:
  void Byte(uint8_t v) { bytes_[size_++] = v; }
  void Bytes(const uint8_t* p, size_t n) {
    std::memcpy(bytes_ + size_, p, n);
    size_ += n;
  }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes_[size_++] = static_cast<uint8_t>(v >> (8 * i));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes_[size_++] = static_cast<uint8_t>(v >> (8 * i));
  }
  void Ids(const int32_t* ids, size_t count) {
    if (count == 0) return;  // `ids` may be null for an empty prefix
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(bytes_ + size_, ids, count * 4);
      size_ += count * 4;
    } else {
      for (size_t i = 0; i < count; ++i) U32(static_cast<uint32_t>(ids[i]));
    }
  }
  Sha256Digest Hash() const { return Sha256Hash(bytes_, size_); }

 private:
  uint8_t bytes_[kMaxMessage];
  size_t size_ = 0;
};

}  // namespace

Sha256Digest PrefixKeySeed(const Sha256Digest& model_fingerprint, const Sha256Digest& salt_hash) {
  Sha256 hasher;
  hasher.Update(kPrefixKeyTag);
  uint8_t len[4] = {32, 0, 0, 0};
  hasher.Update(len, sizeof(len));
  hasher.Update(model_fingerprint);
  hasher.Update(len, sizeof(len));
  hasher.Update(salt_hash);
  return hasher.Final();
}

PrefixKeyChain::PrefixKeyChain(const Sha256Digest& seed, std::span<const int32_t> tokens)
    : tokens_(tokens.begin(), tokens.end()) {
  const int64_t blocks = size() / kKeyBlockTokens;
  chain_.reserve(static_cast<size_t>(blocks) + 1);
  chain_.push_back(seed);
  for (int64_t b = 0; b < blocks; ++b) {
    Message m;
    m.Byte('B');
    m.Bytes(chain_.back().data(), 32);
    m.U32(static_cast<uint32_t>(kKeyBlockTokens));
    m.Ids(tokens_.data() + b * kKeyBlockTokens, kKeyBlockTokens);
    chain_.push_back(m.Hash());
  }
}

const Sha256Digest& PrefixKeyChain::BlockChain(int64_t block) const {
  assert(block >= 0 && block < static_cast<int64_t>(chain_.size()));
  return chain_[static_cast<size_t>(block)];
}

Sha256Digest PrefixKeyChain::PrefixKey(int64_t position) const {
  assert(position >= 0 && position <= size());
  const int64_t block = position / kKeyBlockTokens;
  const int64_t tail = position % kKeyBlockTokens;
  Message m;
  m.Byte('P');
  m.Bytes(chain_[static_cast<size_t>(block)].data(), 32);
  m.U32(static_cast<uint32_t>(tail));
  m.Ids(tokens_.data() + block * kKeyBlockTokens, static_cast<size_t>(tail));
  return m.Hash();
}

cache::Key PrefixKeyChain::SnapshotKey(int64_t position) const {
  const Sha256Digest prefix = PrefixKey(position);
  Message m;
  m.Byte('S');
  m.Bytes(prefix.data(), 32);
  return m.Hash();
}

cache::Key PrefixKeyChain::RowsKey(int64_t end, int64_t begin) const {
  assert(begin >= 0 && begin < end);
  const Sha256Digest prefix = PrefixKey(end);
  Message m;
  m.Byte('R');
  m.Bytes(prefix.data(), 32);
  m.U64(static_cast<uint64_t>(begin));
  return m.Hash();
}

}  // namespace gf
