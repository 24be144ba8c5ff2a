// Helpers shared by the prefix cache tests: models loaded once (the built-in model and a tiny
// random one), capture runs that prefill a prompt in pieces and capture a real snapshot at each
// piece's end, and the logits used to check that a restore is lossless.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cache_store/disk_store.h"
#include "cache_store/memory_store.h"
#include "cache_store/tiered_store.h"
#include "engine/model/goldfinch.h"
#include "engine/model/random_weights.h"
#include "engine/prefix_cache/model_fingerprint.h"
#include "engine/prefix_cache/prefix_cache.h"
#include "engine/prefix_cache/prefix_keys.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "tests/test_support.h"

namespace gf::testing {

struct TestModel {
  std::unique_ptr<GoldFinchModel> model;
  Sha256Digest fingerprint{};
};

// models/goldfinch-byte-small with F32 matrices.
inline TestModel& BuiltinModel() {
  static TestModel m = [] {
    TestModel t;
    auto model = GoldFinchModel::Load(SourceDir() + "/models/goldfinch-byte-small");
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    if (model.ok()) {
      t.model = std::move(*model);
      t.fingerprint = ModelFingerprint(*t.model, ByteTokenizer());
    }
    return t;
  }();
  return m;
}

// A random L4-D64 model over the byte vocabulary (c = 4): fast enough for every test.
inline TestModel& TinyModel() {
  static TestModel m = [] {
    TestModel t;
    auto w = MakeRandomWeights(RandomConfig(4, 64, 257), kernels::DType::kF32, 11);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (w.ok()) {
      t.model = std::make_unique<GoldFinchModel>(std::move(*w));
      t.fingerprint = ModelFingerprint(*t.model, ByteTokenizer());
    }
    return t;
  }();
  return m;
}

inline CacheNamespace Ns(uint8_t tag) {
  CacheNamespace ns;
  ns.salt_hash = Sha256Hash(&tag, 1);
  return ns;
}

// A prompt of `n` byte-tokenizer ids from a fixed text.
inline std::vector<int32_t> Prompt(size_t n) {
  static const std::string kText =
      "The quick brown fox jumps over the lazy dog while the cache keeps every prefix it has "
      "seen; a second question about the same long document should not pay for the document "
      "again, and a different tenant must never learn that it was here. ";
  std::vector<int32_t> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(kText[i % kText.size()]) + 1);
  return ids;
}

// `prompt` with token i replaced by another id.
inline std::vector<int32_t> Diverge(std::vector<int32_t> prompt, size_t i) {
  prompt[i] = prompt[i] == 66 ? 67 : 66;
  return prompt;
}

// Prefills `tokens` in pieces ending at each of `positions` (ascending) and captures a snapshot
// at each; the segment ends of the snapshot at p are the positions <= p. Keeps the live state at
// each position (with materialised K/V).
struct CaptureRun {
  std::vector<SnapshotCapture> captures;
  std::vector<SequenceState> states;
};

inline CaptureRun Capture(GoldFinchModel& model, const CacheNamespace& ns,
                          std::span<const int32_t> tokens, const std::vector<int64_t>& positions) {
  CaptureRun run;
  SequenceState state = model.NewState();
  std::vector<float> logits;
  std::vector<int64_t> ends;
  for (int64_t p : positions) {
    const int64_t from = state.num_tokens();
    EXPECT_TRUE(
        model
            .Prefill(state,
                     tokens.subspan(static_cast<size_t>(from), static_cast<size_t>(p - from)),
                     PrefillOptions{}, &logits)
            .ok());
    ends.push_back(p);
    run.captures.push_back(CaptureSnapshot(ns, state, ends));
    run.states.push_back(state);
  }
  return run;
}

// Last logits after continuing `state` (with materialised K/V) with prompt[state.num_tokens():].
inline std::vector<float> ContinueLogits(GoldFinchModel& model, SequenceState state,
                                         std::span<const int32_t> prompt) {
  std::vector<float> logits;
  const auto from = static_cast<size_t>(state.num_tokens());
  EXPECT_TRUE(model.Prefill(state, prompt.subspan(from), PrefillOptions{}, &logits).ok());
  return logits;
}

// The same, after rebuilding the K/V the way a restore does (Rematerialize), so that the result
// depends only on what a snapshot stores.
inline std::vector<float> RebuiltLogits(GoldFinchModel& model, SequenceState state,
                                        std::span<const int32_t> prompt) {
  state.DropKv();
  EXPECT_TRUE(model.Rematerialize(state).ok());
  return ContinueLogits(model, std::move(state), prompt);
}

inline std::unique_ptr<cache::MemoryStore> Memory(size_t budget = size_t{64} << 20) {
  cache::MemoryStoreOptions o;
  o.byte_budget = budget;
  return std::make_unique<cache::MemoryStore>(o);
}

inline std::unique_ptr<cache::DiskStore> Disk(const std::string& dir) {
  cache::DiskStoreOptions o;
  o.directory = dir;
  o.byte_budget = uint64_t{256} << 20;
  o.sync = false;
  auto store = cache::DiskStore::Open(o);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

inline PrefixCacheOptions SmallOptions() {
  PrefixCacheOptions o;
  o.min_snapshot_tokens = 16;
  return o;
}

inline std::unique_ptr<PrefixCache> MakeCache(std::unique_ptr<cache::CacheStore> store,
                                              const TestModel& m,
                                              PrefixCacheOptions options = SmallOptions()) {
  auto cache = PrefixCache::Create(std::move(store), m.model->config(), m.model->kv_dtype(),
                                   m.fingerprint, options);
  EXPECT_TRUE(cache.ok()) << cache.status().ToString();
  return cache.ok() ? std::move(*cache) : nullptr;
}

// Keys of a prompt's records under (model, namespace).
inline PrefixKeyChain Keys(const TestModel& m, const CacheNamespace& ns,
                           std::span<const int32_t> tokens) {
  return PrefixKeyChain(PrefixKeySeed(m.fingerprint, ns.salt_hash), tokens);
}

inline std::string RecordPath(const std::string& dir, const cache::Key& key) {
  return dir + "/" + cache::RecordFileName(key);
}

inline std::vector<char> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace gf::testing
