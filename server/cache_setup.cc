#include "server/cache_setup.h"

#include <chrono>
#include <cstdio>
#include <utility>

#include "cache_store/disk_store.h"
#include "cache_store/memory_store.h"
#include "cache_store/tiered_store.h"
#include "engine/prefix_cache/model_fingerprint.h"

namespace gf::server {
namespace {

// The disk tier and the secret that keeps its entries reachable across restarts; on failure a
// warning and no disk tier.
struct DiskSetup {
  std::unique_ptr<cache::DiskStore> store;
  std::optional<CacheNamespaces> namespaces;  // from the secret file
  std::string secret_note;
};

DiskSetup OpenDisk(const CacheStoreConfig& config, CacheStoreSetup& setup) {
  DiskSetup disk;
  cache::DiskStoreOptions options;
  options.directory = config.disk_dir;
  options.byte_budget = config.disk_bytes;
  options.write_delay = cache::FaultDelayFromEnvironment();
  auto opened = cache::DiskStore::Open(options);
  if (!opened.ok()) {
    setup.warnings.push_back("prefix cache: disk tier " + config.disk_dir + " unusable (" +
                             opened.status().message() + "); running memory-only");
    return disk;
  }
  // With --cache-secret the file is not needed (nor created).
  if (config.secret.empty()) {
    bool created = false;
    auto namespaces = CacheNamespaces::FromSecretFile(config.disk_dir, &created);
    if (!namespaces.ok()) {
      setup.warnings.push_back("prefix cache: " + namespaces.status().message() +
                               "; running memory-only");
      return disk;  // closes the store (and its lock)
    }
    disk.namespaces = std::move(*namespaces);
    disk.secret_note = config.disk_dir + "/" + kCacheSecretFileName + (created ? " (created)" : "");
  }
  disk.store = std::move(*opened);
  return disk;
}

}  // namespace

std::string ResolveCacheDir(std::string_view value, const char* xdg_cache_home, const char* home) {
  if (value == "none") return "";
  if (!value.empty()) return std::string(value);
  constexpr std::string_view kSubdir = "/goldfinch/prefix-cache";
  if (xdg_cache_home != nullptr && xdg_cache_home[0] == '/') {
    return std::string(xdg_cache_home) + std::string(kSubdir);
  }
  if (home != nullptr && home[0] != '\0')
    return std::string(home) + "/.cache" + std::string(kSubdir);
  return "";
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

CacheStoreConfig CacheStoreConfigFrom(const ServeOptions& options, const char* xdg_cache_home,
                                      const char* home) {
  CacheStoreConfig config;
  config.disk_dir = ResolveCacheDir(options.cache_dir, xdg_cache_home, home);
  config.memory_bytes = static_cast<uint64_t>(options.cache_memory_bytes);
  config.disk_bytes = static_cast<uint64_t>(options.cache_disk_bytes);
  config.secret = options.cache_secret;
  return config;
}

StatusOr<CacheStoreSetup> OpenCacheStore(const CacheStoreConfig& config) {
  CacheStoreSetup setup;
  std::string secret_note = "random (this process only)";
  if (!config.secret.empty()) {
    GF_ASSIGN_OR_RETURN(setup.namespaces, CacheNamespaces::FromSecret(config.secret));
    secret_note = "cache-secret";
  }

  std::unique_ptr<cache::DiskStore> disk;
  if (config.disk_dir.empty() && config.disk_bytes > 0) {
    setup.info.push_back(
        "prefix cache: no disk tier (cache-dir is none, or neither "
        "XDG_CACHE_HOME nor HOME is set)");
  } else if (config.disk_bytes > 0) {
    DiskSetup opened = OpenDisk(config, setup);
    disk = std::move(opened.store);
    if (disk != nullptr && opened.namespaces.has_value()) {
      setup.namespaces = std::move(*opened.namespaces);
      secret_note = opened.secret_note;
    }
  }
  if (disk != nullptr) {
    const cache::CacheTierStats found = disk->Stats();
    setup.disk_dir = config.disk_dir;
    setup.info.push_back(
        "prefix cache: disk tier " + config.disk_dir + ", budget " +
        FormatBytes(config.disk_bytes) + ": " + std::to_string(found.entries) + " entries (" +
        FormatBytes(found.bytes_stored) + ") found, " + std::to_string(disk->temp_files_swept()) +
        " temp files swept" +
        (found.evictions > 0 ? ", " + std::to_string(found.evictions) + " evicted to fit the budget"
                             : ""));
  }

  std::unique_ptr<cache::CacheStore> memory;
  if (config.memory_bytes > 0) {
    memory = std::make_unique<cache::MemoryStore>(
        cache::MemoryStoreOptions{static_cast<size_t>(config.memory_bytes)});
    setup.info.push_back("prefix cache: memory tier, budget " + FormatBytes(config.memory_bytes));
  }

  if (memory != nullptr && disk != nullptr) {
    setup.store = std::make_unique<cache::TieredStore>(std::move(memory), std::move(disk));
  } else if (memory != nullptr) {
    setup.store = std::move(memory);
  } else if (disk != nullptr) {
    setup.store = std::move(disk);
  }
  if (setup.store == nullptr) {
    setup.warnings.push_back("prefix cache: no tier has a budget; caching is off");
  } else {
    setup.info.push_back("prefix cache: namespace secret: " + secret_note);
  }
  return setup;
}

StatusOr<std::shared_ptr<PrefixCache>> MakePrefixCache(std::unique_ptr<cache::CacheStore> store,
                                                       const GoldFinchModel& model,
                                                       const Tokenizer& tokenizer,
                                                       const ServeOptions& options) {
  PrefixCacheOptions cache_options;
  cache_options.min_snapshot_tokens = options.cache_min_tokens;
  cache_options.snapshot_interval = options.cache_snapshot_interval;
  GF_RETURN_IF_ERROR(cache_options.Validate());
  const Sha256Digest fingerprint = ModelFingerprint(model, tokenizer);
  GF_ASSIGN_OR_RETURN(std::unique_ptr<PrefixCache> cache,
                      PrefixCache::Create(std::move(store), model.config(), model.kv_dtype(),
                                          fingerprint, cache_options));
  return std::shared_ptr<PrefixCache>(std::move(cache));
}

}  // namespace gf::server
