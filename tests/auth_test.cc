// API keys (loading, tenants, constant-time lookup), the public-route allowlist and request ids.
#include "server/auth.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "server/request_id.h"
#include "tests/test_support.h"

namespace gf::server {
namespace {

constexpr const char* kMissing =
    "Missing bearer authentication in header. Provide your API key as 'Authorization: Bearer "
    "YOUR_KEY'.";
constexpr const char* kIncorrect = "Incorrect API key provided.";

std::string WriteKeyFile(const std::string& name, const std::string& text) {
  static const std::string dir = testing::MakeTempDir("gf-auth-test");
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string LoadError(const std::vector<std::string>& keys, const std::string& file) {
  ApiKeyStore store;
  const Status st = store.Load(keys, file);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(store.enabled());
  return st.message();
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ApiKeyStoreTest, DisabledWithoutKeys) {
  ApiKeyStore store;
  ASSERT_TRUE(store.Load({}, "").ok());
  EXPECT_FALSE(store.enabled());
  EXPECT_EQ(store.size(), 0u);
  auto tenant = store.Authenticate("");
  ASSERT_TRUE(tenant.ok());
  EXPECT_EQ(*tenant, "");
}

TEST(ApiKeyStoreTest, KeysFromOptionsGetHashTenants) {
  ApiKeyStore store;
  ASSERT_TRUE(store.Load({"sk-abc", "sk-test-1"}, "").ok());
  EXPECT_TRUE(store.enabled());
  EXPECT_EQ(store.size(), 2u);
  auto a = store.Authenticate("Bearer sk-abc");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, "key-1460db1b");
  auto b = store.Authenticate("Bearer sk-test-1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "key-db567a0d");
}

TEST(ApiKeyStoreTest, BearerSchemeIsCaseInsensitiveAndSpacesAreTrimmed) {
  ApiKeyStore store;
  ASSERT_TRUE(store.Load({"sk-abc"}, "").ok());
  for (const char* header :
       {"bearer sk-abc", "BEARER sk-abc", "BeArEr   sk-abc  ", " Bearer\tsk-abc"}) {
    auto t = store.Authenticate(header);
    ASSERT_TRUE(t.ok()) << header << ": " << t.status().ToString();
    EXPECT_EQ(*t, "key-1460db1b");
  }
}

TEST(ApiKeyStoreTest, RejectsMissingMalformedAndWrongKeys) {
  ApiKeyStore store;
  ASSERT_TRUE(store.Load({"sk-abc"}, "").ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", kMissing},
      {"Bearer", kMissing},
      {"Bearer    ", kMissing},
      {"Basic c2stYWJj", kMissing},
      {"sk-abc", kMissing},
      {"Bearersk-abc", kMissing},
      {"Bearer sk-ab", kIncorrect},
      {"Bearer sk-abcd", kIncorrect},
      {"Bearer SK-ABC", kIncorrect},
      {"Bearer sk-abc extra", kIncorrect},
      {std::string("Bearer sk-abc\0", 14), kIncorrect},
  };
  for (const auto& [header, message] : cases) {
    auto t = store.Authenticate(header);
    ASSERT_FALSE(t.ok()) << header;
    EXPECT_EQ(t.status().code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(t.status().message(), message) << header;
    EXPECT_EQ(t.status().message().find("sk-a"), std::string::npos);
  }
}

TEST(ApiKeyStoreTest, KeyFileWithTenantsCommentsAndCrlf) {
  const std::string path = WriteKeyFile("keys.txt",
                                        "# production keys\r\n"
                                        "\r\n"
                                        "sk-team-a-1 team-a\r\n"
                                        "  sk-team-a-2\tteam-a  \n"
                                        "sk-abc\n"
                                        "   # indented comment\n"
                                        "sk-b team.b:2_x-y");
  ApiKeyStore store;
  ASSERT_TRUE(store.Load({"sk-test-1"}, path).ok());
  EXPECT_EQ(store.size(), 5u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"sk-team-a-1", "team-a"}, {"sk-team-a-2", "team-a"},     {"sk-abc", "key-1460db1b"},
      {"sk-b", "team.b:2_x-y"},  {"sk-test-1", "key-db567a0d"},
  };
  for (const auto& [key, tenant] : expected) {
    auto t = store.Authenticate("Bearer " + key);
    ASSERT_TRUE(t.ok()) << key;
    EXPECT_EQ(*t, tenant) << key;
  }
  EXPECT_FALSE(store.Authenticate("Bearer # production keys").ok());
  EXPECT_FALSE(store.Authenticate("Bearer team-a").ok());
}

TEST(ApiKeyStoreTest, LoadErrorsNeverEchoKeys) {
  EXPECT_EQ(LoadError({}, WriteKeyFile("empty.txt", "")),
            "api-key-file: '" + WriteKeyFile("empty.txt", "") + "' has no keys");
  const std::string comments = WriteKeyFile("comments.txt", "# nothing\n\n   \n");
  EXPECT_EQ(LoadError({}, comments), "api-key-file: '" + comments + "' has no keys");
  EXPECT_EQ(LoadError({}, WriteKeyFile("dup.txt", "sk-secret a\nsk-other b\nsk-secret c\n")),
            "api-key-file line 3: duplicate API key");
  EXPECT_EQ(LoadError({"sk-secret"}, WriteKeyFile("dup2.txt", "sk-secret t\n")),
            "api-key-file line 1: duplicate API key");
  EXPECT_EQ(LoadError({"sk-secret", "sk-secret"}, ""), "api-key #2: duplicate API key");
  EXPECT_EQ(LoadError({"sk secret"}, ""),
            "api-key #1: an API key must be 1..1024 printable ASCII characters without spaces");
  EXPECT_EQ(LoadError({""}, ""),
            "api-key #1: an API key must be 1..1024 printable ASCII characters without spaces");
  EXPECT_EQ(LoadError({std::string(1025, 'k')}, ""),
            "api-key #1: an API key must be 1..1024 printable ASCII characters without spaces");
  EXPECT_EQ(LoadError({}, WriteKeyFile("extra.txt", "sk-secret team a\n")),
            "api-key-file line 1: expected 'KEY [TENANT]'");
  EXPECT_EQ(LoadError({}, WriteKeyFile("badtenant.txt", "k1 ok\nsk-secret te/am\n")),
            "api-key-file line 2: a tenant name must be 1..64 characters of [A-Za-z0-9._:-]");
  EXPECT_EQ(
      LoadError({}, WriteKeyFile("longtenant.txt", "sk-secret " + std::string(65, 't') + "\n")),
      "api-key-file line 1: a tenant name must be 1..64 characters of [A-Za-z0-9._:-]");
  EXPECT_EQ(LoadError({}, WriteKeyFile("nonascii.txt", "sk-s\xC3\xA9\n")),
            "api-key-file line 1: an API key must be 1..1024 printable ASCII characters without "
            "spaces");

  ApiKeyStore store;
  const Status missing = store.Load({}, "/nonexistent/keys.txt");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "api-key-file: cannot open '/nonexistent/keys.txt'");
}

TEST(ApiKeyStoreTest, FailedReloadKeepsPreviousKeys) {
  ApiKeyStore store;
  ASSERT_TRUE(store.Load({"sk-abc"}, "").ok());
  EXPECT_FALSE(store.Load({"sk-new", "sk-new"}, "").ok());
  EXPECT_TRUE(store.Authenticate("Bearer sk-abc").ok());
  EXPECT_FALSE(store.Authenticate("Bearer sk-new").ok());
  ASSERT_TRUE(store.Load({"sk-new"}, "").ok());
  EXPECT_FALSE(store.Authenticate("Bearer sk-abc").ok());
  EXPECT_TRUE(store.Authenticate("Bearer sk-new").ok());
}

TEST(ApiKeyStoreTest, ManyKeysEachFindsItsOwnTenant) {
  std::string file;
  for (int i = 0; i < 200; ++i) file += "sk-" + std::to_string(i) + " t" + std::to_string(i) + "\n";
  ApiKeyStore store;
  ASSERT_TRUE(store.Load({}, WriteKeyFile("many.txt", file)).ok());
  for (int i = 0; i < 200; i += 37) {
    auto t = store.Authenticate("Bearer sk-" + std::to_string(i));
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(*t, "t" + std::to_string(i));
  }
  EXPECT_FALSE(store.Authenticate("Bearer sk-200").ok());
}

TEST(PublicPathTest, ExactAllowlistOnly) {
  EXPECT_TRUE(IsPublicPath("/health", false));
  EXPECT_TRUE(IsPublicPath("/ready", false));
  EXPECT_TRUE(IsPublicPath("/metrics", true));
  EXPECT_FALSE(IsPublicPath("/metrics", false));
  for (const char* path :
       {"/", "", "/healthz", "/health/", "/health/../v1/models", "/metrics/",
        "/metrics/../v1/completions", "/v1/models", "/HEALTH", "//health", "/health?x=1", "/ready/",
        "/readyz", "/v1/health", "/invocations", "health"}) {
    EXPECT_FALSE(IsPublicPath(path, true)) << path;
  }
}

TEST(RequestIdTest, AcceptsSafeIds) {
  for (const std::string& id :
       std::vector<std::string>{"a", "abc-123", "A.b_c:d-E", std::string(128, 'x'),
                                "0123456789abcdef0123456789abcdef"}) {
    EXPECT_TRUE(IsValidRequestId(id)) << id;
    EXPECT_EQ(AcceptOrGenerateRequestId(id), id);
  }
}

TEST(RequestIdTest, ReplacesUnsafeIds) {
  for (const std::string& id :
       {std::string(), std::string(129, 'x'), std::string("a b"), std::string("a\r\nINFO fake"),
        std::string("a\"b"), std::string("a/b"), std::string("caf\xC3\xA9"),
        std::string("a\0b", 3)}) {
    EXPECT_FALSE(IsValidRequestId(id));
    const std::string out = AcceptOrGenerateRequestId(id);
    EXPECT_NE(out, id);
    ASSERT_EQ(out.size(), 32u);
    EXPECT_EQ(out.find_first_not_of("0123456789abcdef"), std::string::npos) << out;
  }
}

TEST(RequestIdTest, GeneratedIdsAreDistinct) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(GenerateRequestId());
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace gf::server
