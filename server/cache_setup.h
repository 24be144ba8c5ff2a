// The prefix cache of `goldfinch serve`: its store (memory tier in front of a disk tier), its
// namespace secret and the PrefixCache handed to the engine, built from the options.
//
// OpenCacheStore never lets the cache stop the server from serving: a disk directory that is
// locked by another process, not writable or otherwise unusable, or a corrupt secret file,
// leaves a warning and a memory-only cache with a per-process secret. Only configuration errors
// fail (a --cache-secret shorter than kMinCacheSecretBytes). Budgets: 0 turns that tier off;
// both 0 (or a memory-only setup with a 0 memory budget) means no store at all.
//
// Threads: call once at start-up (blocking file I/O; MakePrefixCache hashes every weight byte
// for the model fingerprint). Ownership: the results own what they hold.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache_store/cache_store.h"
#include "common/status.h"
#include "engine/model/goldfinch.h"
#include "engine/prefix_cache/prefix_cache.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cache_namespace.h"
#include "server/options.h"

namespace gf::server {

struct CacheStoreConfig {
  std::string disk_dir;  // resolved (ResolveCacheDir); "" = memory tier only
  uint64_t memory_bytes = uint64_t{1} << 30;
  uint64_t disk_bytes = uint64_t{16} << 30;
  std::string secret;  // --cache-secret; "" = the secret file in disk_dir (or random)
};

// The disk-tier directory named by --cache-dir `value`: "none" -> "" (memory tier only);
// "" -> "$XDG_CACHE_HOME/goldfinch/prefix-cache" when XDG_CACHE_HOME is set and absolute (the XDG
// rule), else "$HOME/.cache/goldfinch/prefix-cache", else "" (no usable location); any other
// value as given. `xdg_cache_home` and `home` are the environment values (nullptr = unset).
std::string ResolveCacheDir(std::string_view value, const char* xdg_cache_home, const char* home);

// CacheStoreConfig from the serve options and the XDG_CACHE_HOME / HOME values (nullptr = unset).
CacheStoreConfig CacheStoreConfigFrom(const ServeOptions& options, const char* xdg_cache_home,
                                      const char* home);

struct CacheStoreSetup {
  std::unique_ptr<cache::CacheStore> store;  // null when no tier is left
  std::string disk_dir;                      // the disk tier's directory, "" when none
  CacheNamespaces namespaces;
  std::vector<std::string> info;      // start-up log lines (configuration, what was found)
  std::vector<std::string> warnings;  // fallbacks taken
};

StatusOr<CacheStoreSetup> OpenCacheStore(const CacheStoreConfig& config);

// The PrefixCache over `store` for `model` (computes the model fingerprint) with the snapshot
// options of `options` (cache-min-tokens, cache-snapshot-interval).
StatusOr<std::shared_ptr<PrefixCache>> MakePrefixCache(std::unique_ptr<cache::CacheStore> store,
                                                       const GoldFinchModel& model,
                                                       const Tokenizer& tokenizer,
                                                       const ServeOptions& options);

// "1.0 GiB", "512 MiB", "300 B": budgets and sizes for log lines.
std::string FormatBytes(uint64_t bytes);

}  // namespace gf::server
