// Prefix keys (engine/prefix_cache/prefix_keys.h): exact digests against an independent
// implementation, and the properties the cache's isolation relies on.
//
// The expected digests were computed once with Python's hashlib from the definition in
// prefix_keys.h (fingerprint = bytes 0..31, salt hash = bytes 0xA0..0xBF, the tokens of
// TestTokens() below):
//   import hashlib, struct
//   H = lambda b: hashlib.sha256(b).digest()
//   seed = H(b"goldfinch-prefix-v1" + struct.pack("<I", 32) + fp + struct.pack("<I", 32) + salt)
//   chain = [seed] + [H(b"B" + chain[b] + struct.pack("<I", 16) + struct.pack("<16i",
//   *ids[16b:16b+16]))] P(p) = H(b"P" + chain[p // 16] + struct.pack("<I", p % 16) +
//   struct.pack("<%di" % r, *tail)) S(p) = H(b"S" + P(p));  R(e, b) = H(b"R" + P(e) +
//   struct.pack("<Q", b))
//
// Timing: the test "KeysForEveryPositionOfALongPromptAreFast" prints how long the chain and the
// snapshot keys of all 16,384 positions take (Lookup probes every position on a miss).
#include "engine/prefix_cache/prefix_keys.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <vector>

namespace gf {
namespace {

Sha256Digest Fingerprint() {
  Sha256Digest d{};
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i);
  return d;
}

Sha256Digest Salt() {
  Sha256Digest d{};
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(0xA0 + i);
  return d;
}

std::vector<int32_t> TestTokens() {
  std::vector<int32_t> ids(40);
  for (int i = 0; i < 40; ++i) ids[static_cast<size_t>(i)] = (i * 7919 + 3) % 65536;
  ids[3] = 0x01020304;  // shows the little-endian byte order
  return ids;
}

std::string Hex(const Sha256Digest& d) { return ToLowerHex(d); }

TEST(PrefixKeysTest, MatchIndependentlyComputedDigests) {
  const Sha256Digest seed = PrefixKeySeed(Fingerprint(), Salt());
  EXPECT_EQ(Hex(seed), "36a431efd712fd6996d013731cb10670e0ba4af02f3acb70773e493134465714");
  const PrefixKeyChain chain(seed, TestTokens());
  ASSERT_EQ(chain.size(), 40);
  EXPECT_EQ(Hex(chain.BlockChain(0)), Hex(seed));
  EXPECT_EQ(Hex(chain.PrefixKey(0)),
            "9610e64c23171d6f5f037f31e11b1352b194d5a2f2a08408fa1b57c83e43d6fd");
  EXPECT_EQ(Hex(chain.PrefixKey(5)),
            "0a187a82e56e9ea4a259bab7c888e42007d3f216a609e455c1d92618e84d9682");
  EXPECT_EQ(Hex(chain.PrefixKey(16)),
            "3902e6874d851fbe23ff9a251759e3cbc5c85d7d404dc91bf8c2f8931f0712ef");
  EXPECT_EQ(Hex(chain.PrefixKey(37)),
            "452eb3bea80233809c55936ebcec543f4660bcd9122613c75fb4ed20fb6a27f0");
  EXPECT_EQ(Hex(chain.PrefixKey(40)),
            "adedd9d0ab4432c956e2ead41e9218310b7c7264af543d660d9f6131152461d7");
  EXPECT_EQ(Hex(chain.SnapshotKey(37)),
            "f04f3ae0b847bf0fcaa4e35ed305d426af1f1c334e82e08674cdf9e46a2d7fd8");
  EXPECT_EQ(Hex(chain.SnapshotKey(32)),
            "ecec73eea3db062856e3ddac414a75cd71e6694e0c8ce0fcc8da629a24a162b1");
  EXPECT_EQ(Hex(chain.RowsKey(37, 16)),
            "e6149b6ba6ba524c9eb68499be6038324adaac9a3dd853003d4fc7f76d776789");
}

TEST(PrefixKeysTest, KeyOfAPrefixIgnoresLaterTokens) {
  const Sha256Digest seed = PrefixKeySeed(Fingerprint(), Salt());
  const std::vector<int32_t> ids = TestTokens();
  const PrefixKeyChain full(seed, ids);
  for (int64_t p : {0, 1, 15, 16, 17, 31, 32, 33, 39}) {
    const PrefixKeyChain shorter(seed, std::span<const int32_t>(ids).first(static_cast<size_t>(p)));
    EXPECT_EQ(shorter.PrefixKey(p), full.PrefixKey(p)) << p;
    EXPECT_EQ(shorter.SnapshotKey(p), full.SnapshotKey(p)) << p;
  }
}

TEST(PrefixKeysTest, EveryInputChangesTheKeys) {
  const std::vector<int32_t> ids = TestTokens();
  const PrefixKeyChain base(PrefixKeySeed(Fingerprint(), Salt()), ids);

  Sha256Digest other_salt = Salt();
  other_salt[31] ^= 1;
  Sha256Digest other_fp = Fingerprint();
  other_fp[0] ^= 0x80;
  const PrefixKeyChain salted(PrefixKeySeed(Fingerprint(), other_salt), ids);
  const PrefixKeyChain other_model(PrefixKeySeed(other_fp, Salt()), ids);
  // Swapping the two 32-byte fields must not give the same seed either.
  EXPECT_NE(PrefixKeySeed(Fingerprint(), Salt()), PrefixKeySeed(Salt(), Fingerprint()));
  for (int64_t p = 0; p <= 40; ++p) {
    EXPECT_NE(salted.PrefixKey(p), base.PrefixKey(p)) << p;
    EXPECT_NE(other_model.PrefixKey(p), base.PrefixKey(p)) << p;
    EXPECT_NE(salted.SnapshotKey(p), base.SnapshotKey(p)) << p;
  }

  // A changed token at index i changes exactly the keys of positions > i.
  for (size_t i : {size_t{0}, size_t{15}, size_t{16}, size_t{20}, size_t{39}}) {
    std::vector<int32_t> changed = ids;
    changed[i] += 1;
    const PrefixKeyChain c(PrefixKeySeed(Fingerprint(), Salt()), changed);
    for (int64_t p = 0; p <= 40; ++p) {
      if (p > static_cast<int64_t>(i)) {
        EXPECT_NE(c.PrefixKey(p), base.PrefixKey(p)) << "token " << i << " position " << p;
      } else {
        EXPECT_EQ(c.PrefixKey(p), base.PrefixKey(p)) << "token " << i << " position " << p;
      }
    }
  }

  // Ids that differ only in byte order.
  std::vector<int32_t> swapped = ids;
  swapped[3] = 0x04030201;
  const PrefixKeyChain s(PrefixKeySeed(Fingerprint(), Salt()), swapped);
  EXPECT_NE(s.PrefixKey(4), base.PrefixKey(4));
  EXPECT_NE(s.PrefixKey(16), base.PrefixKey(16));
}

TEST(PrefixKeysTest, PositionsAndRecordTypesNeverShareAKey) {
  const PrefixKeyChain chain(PrefixKeySeed(Fingerprint(), Salt()), TestTokens());
  std::set<Sha256Digest> seen;
  size_t expected = 0;
  for (int64_t p = 0; p <= 40; ++p) {
    seen.insert(chain.PrefixKey(p));
    seen.insert(chain.SnapshotKey(p));
    expected += 2;
    for (int64_t begin = 0; begin < p; begin += 7) {
      seen.insert(chain.RowsKey(p, begin));
      ++expected;
    }
  }
  EXPECT_EQ(seen.size(), expected);
  // The snapshot key is not the prefix key's hash under another tag.
  EXPECT_NE(chain.SnapshotKey(16), Sha256Hash(chain.PrefixKey(16).data(), 32));
}

TEST(PrefixKeysTest, ABlockBoundaryIsNotASixteenTokenTail) {
  const Sha256Digest seed = PrefixKeySeed(Fingerprint(), Salt());
  const std::vector<int32_t> ids = TestTokens();
  const PrefixKeyChain chain(seed, ids);
  // What the key at 16 would be if the 16 tokens were hashed as a tail of chain(0).
  std::vector<uint8_t> m = {'P'};
  m.insert(m.end(), seed.begin(), seed.end());
  for (uint8_t b : {16, 0, 0, 0}) m.push_back(b);
  for (size_t i = 0; i < 16; ++i) {
    for (int b = 0; b < 4; ++b)
      m.push_back(static_cast<uint8_t>(static_cast<uint32_t>(ids[i]) >> (8 * b)));
  }
  EXPECT_NE(chain.PrefixKey(16), Sha256Hash(m.data(), m.size()));
  // And the chain link is not the prefix key itself.
  EXPECT_NE(chain.BlockChain(1), chain.PrefixKey(16));
  // A prefix of 16 tokens ending in a zero id is not the 15-token prefix plus padding.
  std::vector<int32_t> zero_tail(ids.begin(), ids.begin() + 16);
  zero_tail[15] = 0;
  const PrefixKeyChain z(seed, zero_tail);
  EXPECT_NE(z.PrefixKey(16), z.PrefixKey(15));
}

TEST(PrefixKeysTest, KeysForEveryPositionOfALongPromptAreFast) {
  std::vector<int32_t> ids(16384);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 2654435761u) % 65536);
  const auto start = std::chrono::steady_clock::now();
  const PrefixKeyChain chain(PrefixKeySeed(Fingerprint(), Salt()), ids);
  std::vector<cache::Key> keys;
  keys.reserve(ids.size());
  for (int64_t p = chain.size(); p >= 1; --p) keys.push_back(chain.SnapshotKey(p));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("[prefix_keys] chain + snapshot keys of %zu positions: %.2f ms\n", ids.size(), ms);
  const std::set<cache::Key> distinct(keys.begin(), keys.end());
  EXPECT_EQ(distinct.size(), ids.size());
  EXPECT_EQ(keys.front(), chain.SnapshotKey(16384));
  EXPECT_EQ(keys.back(), chain.SnapshotKey(1));
}

}  // namespace
}  // namespace gf
