// Prefix-cache namespaces (server/cache_namespace.h): HMAC-SHA256 against RFC 4231, the exact
// salt encoding, tenant separation, cache_salt narrowing, request options, and the secret file
// (created 0600, reused, corrupt/short/symlinked files rejected with a clear error).
#include "server/cache_namespace.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_support.h"

namespace gf::server {
namespace {

std::string Hex(const Sha256Digest& digest) { return ToLowerHex(digest); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

CacheNamespaces Fixed() {
  auto made = CacheNamespaces::FromSecret("0123456789abcdef");
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return made.ok() ? *made : CacheNamespaces();
}

TEST(HmacSha256Test, Rfc4231Vectors) {
  // Test case 1.
  EXPECT_EQ(Hex(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2.
  EXPECT_EQ(Hex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block is hashed first.
  EXPECT_EQ(Hex(HmacSha256(std::string(131, '\xaa'),
                           "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(CacheNamespacesTest, SaltIsHmacOfTheLengthPrefixedTenantAndSalt) {
  const CacheNamespaces ns = Fixed();
  // Reference values from `openssl dgst -sha256 -hmac 0123456789abcdef` over the same bytes.
  EXPECT_EQ(Hex(ns.Salt("acme", std::nullopt)),
            "463bb7b1150b0cc5672802665a86e46b27e7fb772f4480bca620f8d57c436837");
  EXPECT_EQ(Hex(ns.Salt("acme", std::string("s1"))),
            "0cac1e71f6ecd6748e4a7aa08a938c37ff5a8126ac0b0a17561edf15aaaf8205");
  EXPECT_EQ(Hex(ns.Salt("", std::nullopt)),
            "f7d7cb5750443119c13625e28e76441648d39bf7c89b6303c8353cfcc124b6e7");
  // The engine sees SHA-256 of the salt.
  const Sha256Digest salt = ns.Salt("acme", std::nullopt);
  EXPECT_EQ(ns.SaltHash("acme", std::nullopt), Sha256Hash(salt.data(), salt.size()));
  EXPECT_EQ(Hex(ns.SaltHash("acme", std::nullopt)),
            "175976d29303dc0549ee7612c58bc6d7bd750c700268e43127d6dcd0347c08b0");
}

TEST(CacheNamespacesTest, TenantsAreSeparatedAndASaltOnlyNarrows) {
  const CacheNamespaces ns = Fixed();
  const auto a = ns.SaltHash("tenant-a", std::nullopt);
  const auto b = ns.SaltHash("tenant-b", std::nullopt);
  const auto as = ns.SaltHash("tenant-a", std::string("s"));
  const auto bs = ns.SaltHash("tenant-b", std::string("s"));
  EXPECT_NE(a, b);    // (A) != (B)
  EXPECT_NE(as, a);   // (A, s) != (A)
  EXPECT_NE(as, bs);  // (A, s) != (B, s): copying another tenant's salt gains nothing
  EXPECT_NE(bs, b);
  EXPECT_NE(as, ns.SaltHash("tenant-a", std::string("t")));
  // Deterministic.
  EXPECT_EQ(a, ns.SaltHash("tenant-a", std::nullopt));
  EXPECT_EQ(as, ns.SaltHash("tenant-a", std::string("s")));
  // The length prefixes keep shifted boundaries apart: ("ab", "c") vs ("a", "bc"), and a
  // tenant that spells out another's tenant + encoded salt.
  EXPECT_NE(ns.SaltHash("ab", std::string("c")), ns.SaltHash("a", std::string("bc")));
  EXPECT_NE(ns.SaltHash(std::string("a\x01\x00\x00\x00"
                                    "b",
                                    6),
                        std::nullopt),
            ns.SaltHash("a", std::string("b")));
  // Another secret, other namespaces.
  auto other = CacheNamespaces::FromSecret("fedcba9876543210");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->SaltHash("tenant-a", std::nullopt), a);
  // Two random (memory-only) secrets differ.
  EXPECT_NE(CacheNamespaces().SaltHash("t", std::nullopt),
            CacheNamespaces().SaltHash("t", std::nullopt));
}

TEST(CacheNamespacesTest, OptionsForFillsTheRequestCacheOptions) {
  const CacheNamespaces ns = Fixed();
  CacheRequestFields fields;
  fields.snapshot_hints = {40, 12, 40, 7};
  RequestCacheOptions options = ns.OptionsFor("acme", fields);
  EXPECT_TRUE(options.enabled);
  EXPECT_EQ(options.salt_hash, ns.SaltHash("acme", std::nullopt));
  EXPECT_EQ(options.snapshot_hints, (std::vector<int64_t>{7, 12, 40}));

  fields.cache_prompt = false;
  fields.cache_salt = "conversation-17";
  options = ns.OptionsFor("acme", fields);
  EXPECT_FALSE(options.enabled);
  EXPECT_EQ(options.salt_hash, ns.SaltHash("acme", std::string("conversation-17")));
}

TEST(CacheNamespacesTest, CacheSaltLimits) {
  EXPECT_FALSE(CacheSaltProblem("x").has_value());
  EXPECT_FALSE(CacheSaltProblem(std::string(256, 's')).has_value());
  EXPECT_EQ(CacheSaltProblem(""), "must be 1-256 bytes, got 0");
  EXPECT_EQ(CacheSaltProblem(std::string(257, 's')), "must be 1-256 bytes, got 257");
}

TEST(CacheNamespacesTest, ShortCacheSecretIsRejectedWithoutEchoingIt) {
  auto made = CacheNamespaces::FromSecret("short-secret");
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(made.status().message(), "cache-secret must be at least 16 bytes, got 12");
}

TEST(CacheSecretFileTest, CreatedOnceWith0600AndReusedAfterARestart) {
  const std::string dir = testing::MakeTempDir("gf-cache-secret") + "/nested/cache";
  bool created = false;
  auto first = CacheNamespaces::FromSecretFile(dir, &created);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(created);
  const std::string path = dir + "/secret";
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  const std::string bytes = ReadAll(path);
  ASSERT_EQ(bytes.size(), 32u);
  EXPECT_NE(bytes, std::string(32, '\0'));
  // No temp file is left behind.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);

  // "Restart": the same secret, so the same namespaces; the file is not rewritten.
  auto second = CacheNamespaces::FromSecretFile(dir, &created);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(created);
  EXPECT_EQ(second->SaltHash("t", std::nullopt), first->SaltHash("t", std::nullopt));
  EXPECT_EQ(ReadAll(path), bytes);
  // The salt is the HMAC keyed with the file's bytes.
  auto from_bytes = CacheNamespaces::FromSecret(bytes);
  ASSERT_TRUE(from_bytes.ok());
  EXPECT_EQ(from_bytes->SaltHash("t", std::string("x")), first->SaltHash("t", std::string("x")));

  // Another directory, another secret.
  auto elsewhere = CacheNamespaces::FromSecretFile(testing::MakeTempDir("gf-cache-secret-2"));
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_NE(elsewhere->SaltHash("t", std::nullopt), first->SaltHash("t", std::nullopt));
}

TEST(CacheSecretFileTest, CorruptShortLongOrOddFilesAreClearErrors) {
  const std::string dir = testing::MakeTempDir("gf-cache-secret-bad");
  const std::string path = dir + "/secret";
  for (const size_t size : {size_t{0}, size_t{5}, size_t{31}}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << std::string(size, 'k');
    auto loaded = CacheNamespaces::FromSecretFile(dir);
    ASSERT_FALSE(loaded.ok()) << size;
    EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(loaded.status().message(),
              path + ": corrupt cache secret: expected 32 bytes, found " + std::to_string(size) +
                  "; delete it to start a new cache namespace (entries stored under the old "
                  "secret become unreachable)");
    EXPECT_EQ(ReadAll(path).size(), size);  // never overwritten
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << std::string(33, 'k');
  auto too_long = CacheNamespaces::FromSecretFile(dir);
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("expected 32 bytes, found more"), std::string::npos);

  // A directory under the name.
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);
  auto directory = CacheNamespaces::FromSecretFile(dir);
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(directory.status().message(), path + ": is not a regular file");

  // A planted symbolic link is never followed.
  std::filesystem::remove(path);
  const std::string target = dir + "/elsewhere";
  std::ofstream(target, std::ios::binary) << std::string(32, 'k');
  std::filesystem::create_symlink(target, path);
  auto link = CacheNamespaces::FromSecretFile(dir);
  ASSERT_FALSE(link.ok());
  EXPECT_EQ(link.status().message(), path + ": is a symbolic link; refusing to use it");
}

TEST(CacheSecretFileTest, ConcurrentFirstStartsAgreeOnOneSecret) {
  for (int round = 0; round < 5; ++round) {
    const std::string dir = testing::MakeTempDir("gf-cache-secret-race");
    constexpr int kThreads = 8;
    std::vector<Sha256Digest> seen(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        auto loaded = CacheNamespaces::FromSecretFile(dir);
        if (loaded.ok()) seen[static_cast<size_t>(i)] = loaded->SaltHash("t", std::nullopt);
      });
    }
    for (std::thread& t : threads) t.join();
    const auto reference = CacheNamespaces::FromSecret(ReadAll(dir + "/secret"));
    ASSERT_TRUE(reference.ok());
    for (const Sha256Digest& digest : seen) {
      EXPECT_EQ(digest, reference->SaltHash("t", std::nullopt));
    }
  }
}

TEST(CacheSecretFileTest, UnusableDirectoryIsUnavailable) {
  // The "directory" lies under a regular file (works for root too, unlike permissions).
  const std::string file = testing::MakeTempDir("gf-cache-secret-ro") + "/plain-file";
  std::ofstream(file) << "x";
  const std::string dir = file + "/cache";
  auto loaded = CacheNamespaces::FromSecretFile(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(loaded.status().message().rfind(dir + "/secret: cannot be opened: ", 0), 0u)
      << loaded.status().message();
}

}  // namespace
}  // namespace gf::server
