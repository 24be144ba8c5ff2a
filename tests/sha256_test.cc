// SHA-256 against the FIPS 180-4 / NIST example vectors, padding boundaries and incremental use,
// once with the SHA-extension block function (where the CPU has it) and once with the portable
// one; and the two against each other on random messages.
#include "common/sha256.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace gf {
namespace {

std::string HexOf(std::string_view message) { return ToLowerHex(Sha256Hash(message)); }

// Parameter: force the portable block function.
class Sha256Test : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { Sha256ForcePortableForTesting(GetParam()); }
  void TearDown() override { Sha256ForcePortableForTesting(false); }
};

TEST_P(Sha256Test, NistVectors) {
  EXPECT_EQ(HexOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(
      HexOf(
          "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
          "rlmnopqrsmnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_P(Sha256Test, OneMillionA) {
  const std::string million(1000000, 'a');
  EXPECT_EQ(HexOf(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // The same message fed in uneven pieces.
  Sha256 hasher;
  size_t done = 0;
  for (size_t piece = 1; done < million.size(); piece = piece * 3 % 1000 + 1) {
    const size_t n = std::min(piece, million.size() - done);
    hasher.Update(million.data() + done, n);
    done += n;
  }
  EXPECT_EQ(ToLowerHex(hasher.Final()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Lengths around the padding boundary (55 fits one block, 56 needs a second).
TEST_P(Sha256Test, PaddingBoundaries) {
  EXPECT_EQ(HexOf(std::string(55, 'x')),
            "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
  EXPECT_EQ(HexOf(std::string(56, 'x')),
            "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
  EXPECT_EQ(HexOf(std::string(63, 'x')),
            "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2");
  EXPECT_EQ(HexOf(std::string(64, 'x')),
            "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
  EXPECT_EQ(HexOf(std::string(65, 'x')),
            "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9");
}

// Every split point of a 200-byte message gives the one-shot digest; Final resets the hasher.
TEST_P(Sha256Test, IncrementalSplitsAndReset) {
  std::vector<uint8_t> message(200);
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<uint8_t>((i * 7 + 3) % 256);
  const std::string expected = "2c7e18c942ef065b526a2d4e5546283749cd3ddfb51d8fc71f42717363685f46";
  EXPECT_EQ(ToLowerHex(Sha256Hash(message.data(), message.size())), expected);
  Sha256 hasher;
  for (size_t split = 0; split <= message.size(); ++split) {
    hasher.Update(std::span<const uint8_t>(message).first(split));
    hasher.Update(std::span<const uint8_t>(message).subspan(split));
    ASSERT_EQ(ToLowerHex(hasher.Final()), expected) << "split " << split;
  }
  hasher.Update("abc");
  EXPECT_EQ(ToLowerHex(hasher.Final()), HexOf("abc"));
}

TEST_P(Sha256Test, LowerHex) {
  const std::vector<uint8_t> bytes = {0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(ToLowerHex(bytes), "000fa0ff");
  EXPECT_EQ(ToLowerHex({}), "");
}

INSTANTIATE_TEST_SUITE_P(BlockFunctions, Sha256Test, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "Portable" : "Default";
                         });

// Random messages of every length up to 300 bytes and one of 100 KB, fed in uneven pieces: the
// default block function (SHA extensions where present) and the portable one agree.
TEST(Sha256PathsTest, HardwareAndPortableAgree) {
  std::vector<uint8_t> data(100000);
  uint32_t x = 12345;
  for (uint8_t& b : data) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  auto digest = [&](size_t n, bool portable) {
    Sha256ForcePortableForTesting(portable);
    Sha256 hasher;
    for (size_t done = 0, piece = 1; done < n; piece = piece * 5 % 997 + 1) {
      const size_t take = std::min(piece, n - done);
      hasher.Update(data.data() + done, take);
      done += take;
    }
    const Sha256Digest d = hasher.Final();
    Sha256ForcePortableForTesting(false);
    return d;
  };
  for (size_t n = 0; n <= 300; ++n) ASSERT_EQ(digest(n, false), digest(n, true)) << n << " bytes";
  EXPECT_EQ(digest(data.size(), false), digest(data.size(), true));
}

}  // namespace
}  // namespace gf
