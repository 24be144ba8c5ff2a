// The prefix-cache options of `goldfinch serve` (server/options.h) and the store they build
// (server/cache_setup.h): defaults, "none", byte-size suffixes, bad values, the cache directory
// rule, the tiers built for each budget, the fallbacks (locked / unusable directory, corrupt
// secret file) and the PrefixCache made for the built-in model.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cache_store/disk_store.h"
#include "cache_store/memory_store.h"
#include "cache_store/tiered_store.h"
#include "engine/model/goldfinch.h"
#include "server/byte_count.h"
#include "server/cache_setup.h"
#include "server/options.h"
#include "tests/test_support.h"

namespace gf::server {
namespace {

using Args = std::vector<std::string>;
using Env = std::map<std::string, std::string>;

ServeOptions ParseOk(const Args& args, const Env& env = {}) {
  auto parsed = ParseServeOptions(args, env);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed.ok() ? *parsed : ServeOptions{};
}

std::string ParseError(const Args& args, const Env& env = {}) {
  auto parsed = ParseServeOptions(args, env);
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? "" : parsed.status().message();
}

std::string WriteConfig(const std::string& text) {
  static const std::string dir = testing::MakeTempDir("gf-cache-options");
  static int n = 0;
  const std::string path = dir + "/c" + std::to_string(n++) + ".toml";
  std::ofstream(path) << text;
  return path;
}

TEST(CacheOptionsTest, Defaults) {
  const ServeOptions o = ParseOk({});
  EXPECT_TRUE(o.cache);
  EXPECT_EQ(o.cache_dir, "");
  EXPECT_EQ(o.cache_memory_bytes, int64_t{1} << 30);
  EXPECT_EQ(o.cache_hot_bytes, int64_t{1} << 30);
  EXPECT_EQ(o.cache_disk_bytes, int64_t{16} << 30);
  EXPECT_EQ(o.cache_secret, "");
  EXPECT_EQ(o.cache_snapshot_interval, 2048);
  EXPECT_EQ(o.cache_min_tokens, 32);
  EXPECT_EQ(o.cache_max_contexts, 1024);
}

TEST(CacheOptionsTest, EveryInputSetsThem) {
  const ServeOptions cli =
      ParseOk({"--cache=false", "--cache-dir", "none", "--cache-snapshot-interval=512",
               "--cache-min-tokens", "64", "--cache-secret=0123456789abcdef-cli",
               "--cache-max-contexts=7"});
  EXPECT_FALSE(cli.cache);
  EXPECT_EQ(cli.cache_dir, "none");
  EXPECT_EQ(cli.cache_snapshot_interval, 512);
  EXPECT_EQ(cli.cache_min_tokens, 64);
  EXPECT_EQ(cli.cache_max_contexts, 7);
  EXPECT_EQ(cli.cache_secret, "0123456789abcdef-cli");

  const ServeOptions env = ParseOk({}, {{"GOLDFINCH_CACHE", "off"},
                                        {"GOLDFINCH_CACHE_DIR", "/var/cache/gf"},
                                        {"GOLDFINCH_CACHE_MEMORY_BYTES", "256MiB"},
                                        {"GOLDFINCH_CACHE_SECRET", "from-the-environment"}});
  EXPECT_FALSE(env.cache);
  EXPECT_EQ(env.cache_dir, "/var/cache/gf");
  EXPECT_EQ(env.cache_memory_bytes, int64_t{256} << 20);
  EXPECT_EQ(env.cache_secret, "from-the-environment");
  EXPECT_TRUE(env.warnings.empty());

  const ServeOptions file = ParseOk({"--config", WriteConfig("cache = false\n"
                                                             "cache_disk_bytes = \"2 GiB\"\n"
                                                             "cache_memory_bytes = 1000\n"
                                                             "cache-min-tokens = 8\n")});
  EXPECT_FALSE(file.cache);
  EXPECT_EQ(file.cache_disk_bytes, int64_t{2} << 30);
  EXPECT_EQ(file.cache_memory_bytes, 1000);
  EXPECT_EQ(file.cache_min_tokens, 8);
}

TEST(CacheOptionsTest, ByteSizeSuffixes) {
  const auto memory = [](const std::string& value) {
    return ParseOk({"--cache-memory-bytes", value}).cache_memory_bytes;
  };
  EXPECT_EQ(memory("0"), 0);
  EXPECT_EQ(memory("12345"), 12345);
  EXPECT_EQ(memory("+7"), 7);
  EXPECT_EQ(memory("1KiB"), 1024);
  EXPECT_EQ(memory("3MiB"), 3 * 1048576);
  EXPECT_EQ(memory("2GiB"), int64_t{2} << 30);
  EXPECT_EQ(memory("1TiB"), int64_t{1} << 40);
  EXPECT_EQ(memory("5KB"), 5000);
  EXPECT_EQ(memory("5MB"), 5000000);
  EXPECT_EQ(memory("5GB"), 5000000000);
  EXPECT_EQ(memory("1TB"), 1000000000000);
  EXPECT_EQ(memory("64 MiB"), int64_t{64} << 20);
  EXPECT_EQ(ParseOk({"--cache-disk-bytes=100GB"}).cache_disk_bytes, 100000000000);
  // The other *-bytes options take them too.
  EXPECT_EQ(ParseOk({"--max-body-bytes=32MiB"}).max_body_bytes, 32 << 20);
  EXPECT_EQ(ParseOk({}, {{"GOLDFINCH_STREAM_BUFFER_BYTES", "2MiB"}}).stream_buffer_bytes, 2 << 20);
  EXPECT_EQ(ParseOk({"--config", WriteConfig("max_header_bytes = \"32KiB\"\n")}).max_header_bytes,
            32768);
}

TEST(CacheOptionsTest, ParseByteCount) {
  EXPECT_EQ(ParseByteCount("0"), 0);
  EXPECT_EQ(ParseByteCount("+12"), 12);
  EXPECT_EQ(ParseByteCount("-3"), -3);  // the sign is the range check's business
  EXPECT_EQ(ParseByteCount("8EiB"), std::nullopt);
  EXPECT_EQ(ParseByteCount("8388607TiB"), int64_t{8388607} << 40);  // the largest TiB count
  EXPECT_EQ(ParseByteCount("8388608TiB"), std::nullopt);            // 2^63: overflow
  EXPECT_EQ(ParseByteCount("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(ParseByteCount("9223372036854775808"), std::nullopt);
  EXPECT_EQ(ParseByteCount("1 KB"), 1000);
  EXPECT_EQ(ParseByteCount(" 1KB"), std::nullopt);
  EXPECT_EQ(ParseByteCount("1KB "), std::nullopt);
  EXPECT_EQ(ParseByteCount("+"), std::nullopt);
  EXPECT_EQ(ParseByteCount("++1"), std::nullopt);
}

TEST(CacheOptionsTest, BadValuesAreErrors) {
  const std::string expected_count =
      "cache-memory-bytes must be a byte count (an integer, optionally followed by KiB, MiB, GiB, "
      "TiB, KB, MB, GB or TB), got ";
  for (const std::string bad : {"", "x", "1.5GiB", "1 gib", "1GiBs", "GiB", "1  GiB", "1iB", "-"}) {
    EXPECT_EQ(ParseError({"--cache-memory-bytes=" + bad}),
              "command line --cache-memory-bytes: " + expected_count + "'" + bad + "'")
        << bad;
  }
  EXPECT_EQ(ParseError({"--cache-memory-bytes=-1"}),
            "command line --cache-memory-bytes: cache-memory-bytes must be >= 0 and <= "
            "1099511627776, got -1");
  EXPECT_EQ(ParseError({"--cache-memory-bytes=2TiB"}),
            "command line --cache-memory-bytes: cache-memory-bytes must be >= 0 and <= "
            "1099511627776, got 2199023255552");
  // Overflow in the multiplication is a format error, not a wrapped value.
  EXPECT_EQ(ParseError({"--cache-disk-bytes=9000000000TiB"}),
            "command line --cache-disk-bytes: cache-disk-bytes must be a byte count (an integer, "
            "optionally followed by KiB, MiB, GiB, TiB, KB, MB, GB or TB), got '9000000000TiB'");
  EXPECT_EQ(ParseError({"--cache-snapshot-interval=0"}),
            "command line --cache-snapshot-interval: cache-snapshot-interval must be >= 1 and <= "
            "16777216, got 0");
  EXPECT_EQ(ParseError({"--cache-min-tokens=1KiB"}),
            "command line --cache-min-tokens: cache-min-tokens must be an integer, got '1KiB'");
  EXPECT_EQ(ParseError({"--cache=maybe"}),
            "command line --cache: cache must be true or false, got 'maybe'");
  const std::string file = WriteConfig("cache_disk_bytes = \"lots\"\n");
  EXPECT_EQ(ParseError({"--config", file}),
            "config file line 1: cache-disk-bytes must be a byte count (an integer, optionally "
            "followed by KiB, MiB, GiB, TiB, KB, MB, GB or TB), got 'lots' (in " +
                file + ")");
  const std::string typed = WriteConfig("cache_disk_bytes = 1.5\n");
  EXPECT_EQ(ParseError({"--config", typed}),
            "config file line 1: cache-disk-bytes must be an integer or a size string (\"1GiB\"), "
            "got float (in " +
                typed + ")");
  // A bad secret value is never echoed.
  const std::string secret_error = ParseError({"--cache-secret"});
  EXPECT_EQ(secret_error, "command line --cache-secret: missing value");
}

TEST(CacheOptionsTest, SecretIsRedactedAndTheFaultHookIsNotAnUnknownVariable) {
  const ServeOptions o = ParseOk({}, {{"GOLDFINCH_CACHE_SECRET", "sekrit-sekrit-sekrit"},
                                      {"GOLDFINCH_CACHE_FAULT_DELAY_MS", "5"},
                                      {"GOLDFINCH_MODEL_DIR", "/m"}});
  EXPECT_TRUE(o.warnings.empty());
  std::string all;
  for (const std::string& line : EffectiveConfigLines(o)) all += line + "\n";
  EXPECT_EQ(all.find("sekrit"), std::string::npos) << all;
  EXPECT_NE(all.find("\ncache-secret = \"<redacted>\"  # env\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\ncache-memory-bytes = 1073741824  # default\n"), std::string::npos);
  const std::string help = HelpText();
  EXPECT_NE(help.find("  --cache-memory-bytes BYTES\n"), std::string::npos);
  EXPECT_NE(help.find("  --cache [=true|false]\n"), std::string::npos);
  EXPECT_NE(help.find("\nPrefix cache:\n"), std::string::npos);
}

TEST(CacheOptionsTest, CacheDirectoryRule) {
  EXPECT_EQ(ResolveCacheDir("none", "/x", "/home/u"), "");
  EXPECT_EQ(ResolveCacheDir("/srv/cache", "/x", "/home/u"), "/srv/cache");
  EXPECT_EQ(ResolveCacheDir("rel/dir", nullptr, nullptr), "rel/dir");
  EXPECT_EQ(ResolveCacheDir("", "/xdg", "/home/u"), "/xdg/goldfinch/prefix-cache");
  EXPECT_EQ(ResolveCacheDir("", nullptr, "/home/u"), "/home/u/.cache/goldfinch/prefix-cache");
  EXPECT_EQ(ResolveCacheDir("", "", "/home/u"), "/home/u/.cache/goldfinch/prefix-cache");
  // XDG: a relative XDG_CACHE_HOME is ignored.
  EXPECT_EQ(ResolveCacheDir("", "relative", "/home/u"), "/home/u/.cache/goldfinch/prefix-cache");
  EXPECT_EQ(ResolveCacheDir("", nullptr, nullptr), "");
  EXPECT_EQ(ResolveCacheDir("", nullptr, ""), "");

  ServeOptions o;
  o.cache_memory_bytes = 5;
  o.cache_disk_bytes = 6;
  o.cache_secret = "s";
  const CacheStoreConfig config = CacheStoreConfigFrom(o, nullptr, "/h");
  EXPECT_EQ(config.disk_dir, "/h/.cache/goldfinch/prefix-cache");
  EXPECT_EQ(config.memory_bytes, 5u);
  EXPECT_EQ(config.disk_bytes, 6u);
  EXPECT_EQ(config.secret, "s");
}

CacheStoreConfig Config(const std::string& dir, uint64_t memory, uint64_t disk,
                        std::string secret = "") {
  CacheStoreConfig config;
  config.disk_dir = dir;
  config.memory_bytes = memory;
  config.disk_bytes = disk;
  config.secret = std::move(secret);
  return config;
}

TEST(CacheStoreSetupTest, TieredByDefaultWithAPersistentSecret) {
  const std::string dir = testing::MakeTempDir("gf-cache-setup") + "/cache";
  Sha256Digest first_namespace{};
  {
    auto setup = OpenCacheStore(Config(dir, 1 << 20, 1 << 24));
    ASSERT_TRUE(setup.ok()) << setup.status().ToString();
    ASSERT_NE(dynamic_cast<cache::TieredStore*>(setup->store.get()), nullptr);
    EXPECT_EQ(setup->disk_dir, dir);
    EXPECT_TRUE(setup->warnings.empty());
    ASSERT_EQ(setup->info.size(), 3u);
    EXPECT_EQ(setup->info[0], "prefix cache: disk tier " + dir +
                                  ", budget 16.0 MiB: 0 entries (0 B) found, 0 temp files swept");
    EXPECT_EQ(setup->info[1], "prefix cache: memory tier, budget 1.0 MiB");
    EXPECT_EQ(setup->info[2], "prefix cache: namespace secret: " + dir + "/secret (created)");
    first_namespace = setup->namespaces.SaltHash("t", std::nullopt);
    ASSERT_TRUE(setup->store->Put(cache::Key{1}, std::vector<uint8_t>(100, 7)).ok());
  }
  // A temp file left by a crashed writer is swept; the record and the secret survive.
  std::ofstream(dir + "/" + std::string(64, 'a') + ".tmp.1f") << "partial";
  auto again = OpenCacheStore(Config(dir, 1 << 20, 1 << 24));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->info[0], "prefix cache: disk tier " + dir +
                                ", budget 16.0 MiB: 1 entries (100 B) found, 1 temp files swept");
  EXPECT_EQ(again->info[2], "prefix cache: namespace secret: " + dir + "/secret");
  EXPECT_EQ(again->namespaces.SaltHash("t", std::nullopt), first_namespace);
  EXPECT_TRUE(again->store->Contains(cache::Key{1}));  // index probe (the bytes are no record)
}

TEST(CacheStoreSetupTest, BudgetsAndNoneChooseTheTiers) {
  const std::string dir = testing::MakeTempDir("gf-cache-setup-tiers");
  auto memory_only = OpenCacheStore(Config("", 1 << 20, 1 << 24));
  ASSERT_TRUE(memory_only.ok());
  EXPECT_NE(dynamic_cast<cache::MemoryStore*>(memory_only->store.get()), nullptr);
  EXPECT_EQ(memory_only->disk_dir, "");
  EXPECT_EQ(memory_only->info.back(), "prefix cache: namespace secret: random (this process only)");

  auto disk_only = OpenCacheStore(Config(dir + "/d", 0, 1 << 24));
  ASSERT_TRUE(disk_only.ok());
  EXPECT_NE(dynamic_cast<cache::DiskStore*>(disk_only->store.get()), nullptr);

  auto none = OpenCacheStore(Config(dir + "/n", 0, 0));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->store, nullptr);
  EXPECT_EQ(none->warnings,
            (std::vector<std::string>{"prefix cache: no tier has a budget; caching is off"}));
  EXPECT_FALSE(std::filesystem::exists(dir + "/n"));  // a tier that is off touches nothing

  // --cache-secret: no secret file is created; the namespaces follow the given secret.
  auto with_secret = OpenCacheStore(Config(dir + "/s", 1 << 20, 1 << 24, "0123456789abcdef"));
  ASSERT_TRUE(with_secret.ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/s/secret"));
  EXPECT_EQ(with_secret->info.back(), "prefix cache: namespace secret: cache-secret");
  EXPECT_EQ(with_secret->namespaces.SaltHash("t", std::nullopt),
            CacheNamespaces::FromSecret("0123456789abcdef")->SaltHash("t", std::nullopt));

  auto short_secret = OpenCacheStore(Config(dir + "/s", 1 << 20, 1 << 24, "short"));
  ASSERT_FALSE(short_secret.ok());
  EXPECT_EQ(short_secret.status().message(), "cache-secret must be at least 16 bytes, got 5");
}

TEST(CacheStoreSetupTest, LockedUnusableOrBadSecretFallsBackToMemoryOnly) {
  const std::string dir = testing::MakeTempDir("gf-cache-setup-locked");
  cache::DiskStoreOptions held_options;
  held_options.directory = dir;
  auto held = cache::DiskStore::Open(held_options);  // "another process" holds the directory
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  auto locked = OpenCacheStore(Config(dir, 1 << 20, 1 << 24));
  ASSERT_TRUE(locked.ok());
  EXPECT_NE(dynamic_cast<cache::MemoryStore*>(locked->store.get()), nullptr);
  EXPECT_EQ(locked->disk_dir, "");
  ASSERT_EQ(locked->warnings.size(), 1u);
  EXPECT_EQ(locked->warnings[0].rfind("prefix cache: disk tier " + dir + " unusable (", 0), 0u)
      << locked->warnings[0];
  EXPECT_NE(locked->warnings[0].find("; running memory-only"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/secret"));
  held->reset();

  const std::string file = testing::MakeTempDir("gf-cache-setup-file") + "/f";
  std::ofstream(file) << "x";
  auto unusable = OpenCacheStore(Config(file + "/cache", 1 << 20, 1 << 24));
  ASSERT_TRUE(unusable.ok());
  EXPECT_NE(dynamic_cast<cache::MemoryStore*>(unusable->store.get()), nullptr);
  EXPECT_EQ(unusable->warnings.size(), 1u);

  const std::string bad = testing::MakeTempDir("gf-cache-setup-bad-secret");
  std::ofstream(bad + "/secret") << "too short";
  auto bad_secret = OpenCacheStore(Config(bad, 1 << 20, 1 << 24));
  ASSERT_TRUE(bad_secret.ok());
  EXPECT_NE(dynamic_cast<cache::MemoryStore*>(bad_secret->store.get()), nullptr);
  ASSERT_EQ(bad_secret->warnings.size(), 1u);
  EXPECT_EQ(bad_secret->warnings[0], "prefix cache: " + bad +
                                         "/secret: corrupt cache secret: expected 32 bytes, found "
                                         "9; delete it to start a new cache namespace (entries "
                                         "stored under the old secret become unreachable); "
                                         "running memory-only");
  // The failed attempt released the directory: a later start can take it.
  std::filesystem::remove(bad + "/secret");
  auto recovered = OpenCacheStore(Config(bad, 1 << 20, 1 << 24));
  ASSERT_TRUE(recovered.ok());
  EXPECT_NE(dynamic_cast<cache::TieredStore*>(recovered->store.get()), nullptr);
}

TEST(CacheStoreSetupTest, MakesThePrefixCacheForTheBuiltinModel) {
  auto model = GoldFinchModel::Load(testing::SourceDir() + "/models/goldfinch-byte-small",
                                    WeightLoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tokenizer = MakeTokenizer("byte", "");
  ASSERT_TRUE(tokenizer.ok());
  ServeOptions options;
  options.cache_min_tokens = 48;
  options.cache_snapshot_interval = 256;
  auto cache = MakePrefixCache(std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{}),
                               **model, **tokenizer, options);
  ASSERT_TRUE(cache.ok()) << cache.status().ToString();
  EXPECT_EQ((*cache)->options().min_snapshot_tokens, 48);
  EXPECT_EQ((*cache)->options().snapshot_interval, 256);

  options.cache_snapshot_interval = 0;  // the table forbids it; the engine's check names it
  auto invalid = MakePrefixCache(std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{}),
                                 **model, **tokenizer, options);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(invalid.status().message().find("snapshot_interval"), std::string::npos);
}

TEST(CacheStoreSetupTest, FormatBytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{1} << 30), "1.0 GiB");
  EXPECT_EQ(FormatBytes(uint64_t{16} << 30), "16.0 GiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 40), "3.0 TiB");
  EXPECT_EQ(FormatBytes(uint64_t{5000} << 40), "5000.0 TiB");
}

}  // namespace
}  // namespace gf::server
