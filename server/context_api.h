// ContextApi: the protocol-neutral core of the explicit context API (HTTP: server/context_routes.h,
// gRPC: server/grpc/context_service.h) on top of the engine's ContextRegistry
// (engine/prefix_cache/context_registry.h).
//
// Contract:
// - A context belongs to a cache namespace: ContextNamespace(routes, tenant, cache_salt), i.e.
//   the same namespace a completion of that tenant with that cache_salt uses. All lookups are
//   confined to it (another tenant's id is NotFound, exactly like an unknown id).
// - Create runs the context's tokens through the engine as a prompt-only request (max_tokens 0,
//   so its final snapshot is at exactly the context's length), waits until the engine's cache
//   writes are done, then registers and pins it. `done` is called exactly once: on the calling
//   thread for errors found before the engine accepted the request (CheckContextTokens errors,
//   ResourceExhausted queue full, Unavailable draining), else on the ContextApi's worker thread.
//   Errors after admission: Unavailable (shutdown, cache busy or unable to keep the snapshot:
//   e.g. the memory budget is full of pinned contexts), ResourceExhausted (per-namespace
//   bound), Cancelled (Creation::Cancel), or the engine's error.
// - PrependContext turns requests of a tenant into requests that continue a context: the
//   context's tokens are put before each prompt, snapshot hints move with the prompt, and the
//   context-length check is redone on the whole prompt (chat requests without an explicit
//   max_tokens get the rest of the context, as chat does).
//
// Threads: every method is thread-safe. One worker thread finishes creations (blocking cache
// waits and pins never run on I/O or engine threads). The destructor finishes queued work with
// Unavailable and joins the worker; the engine used by Create must outlive the ContextApi.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "engine/prefix_cache/context_registry.h"
#include "engine/serving/engine.h"
#include "engine/serving/request.h"
#include "server/cache_namespace.h"
#include "server/openai/api_error.h"
#include "server/openai/json_limits.h"
#include "server/openai/request_parser.h"

namespace gf::server {

class OpenAiRoutes;

inline constexpr int64_t kDefaultContextTtlSeconds = 3600;
inline constexpr size_t kMaxContextNameBytes = 256;

// The namespace of a tenant's contexts (and cache entries) under an optional cache_salt.
CacheNamespace ContextNamespace(const OpenAiRoutes& routes, std::string_view tenant,
                                const std::optional<std::string>& cache_salt);

// What to create: tokens already rendered and validated (ids in range).
struct ContextCreateInput {
  std::string tenant;
  std::string request_id;                 // for logs
  std::optional<std::string> cache_salt;  // validated (CacheSaltProblem)
  std::vector<int64_t> snapshot_hints;    // e.g. chat message boundaries
  std::vector<TokenId> tokens;
  int64_t ttl_seconds = kDefaultContextTtlSeconds;  // [1, kMaxContextTtlSeconds]
  std::string name;                                 // <= kMaxContextNameBytes
};

// How the context-length check of PrependContext names its fields.
struct ContextUse {
  std::string prompt_param;      // "prompt", "messages", "text", "tokens", "chat"
  std::string max_tokens_param;  // "max_tokens", "max_completion_tokens"
  // false: chat without max_tokens (max_tokens = the rest of the context, capped).
  bool explicit_max_tokens = true;
};

class ContextApi {
 public:
  // One creation in flight; Cancel stops it (the engine request is cancelled; `done` gets
  // Cancelled unless it was already called).
  class Creation {
   public:
    void Cancel();

   private:
    friend class ContextApi;
    std::mutex mu;
    Engine* engine = nullptr;
    SeqId seq = 0;
    bool cancelled = false;
    bool finished = false;  // the engine's final event arrived
  };
  using CreateDone = std::function<void(StatusOr<ContextRecord>)>;

  // `cache` is the registry's PrefixCache, kept alive as long as the registry may use it.
  ContextApi(std::shared_ptr<ContextRegistry> registry, std::shared_ptr<PrefixCache> cache);
  ~ContextApi();
  ContextApi(const ContextApi&) = delete;
  ContextApi& operator=(const ContextApi&) = delete;

  ContextRegistry& registry() const { return *registry_; }

  // See the file comment. Returns the creation (null when `done` already ran with an error).
  std::shared_ptr<Creation> Create(const OpenAiRoutes& routes, ContextCreateInput input,
                                   CreateDone done);

  // The worker's queue, shared with the engine sinks of creations (which may outlive *this).
  struct Worker;

 private:
  std::shared_ptr<PrefixCache> cache_;
  std::shared_ptr<ContextRegistry> registry_;
  std::shared_ptr<Worker> worker_;
};

// The context API of `goldfinch serve` over the engine's prefix cache: the registry persists in
// "<disk_dir>/contexts" when the cache has a disk tier (disk_dir non-empty), else in memory.
// Logs what it loaded; a contexts directory that cannot be used is a warning and the registry
// falls back to memory. At most `max_per_namespace` contexts per tenant namespace. Null when
// `cache` is null (no prefix cache).
std::shared_ptr<ContextApi> OpenContextApi(std::shared_ptr<PrefixCache> cache,
                                           const std::string& disk_dir, size_t max_per_namespace);

// Token-count rules of a new context: InvalidArgument below the prefix cache's smallest snapshot
// (min_snapshot_tokens), OutOfRange when it leaves no room for one more token
// (>= max_model_len). Messages name no field (callers add theirs).
Status CheckContextTokens(const OpenAiRoutes& routes, size_t tokens);

// The context `id` of this namespace. Unavailable when the server has no prefix cache
// (routes.config().contexts is null); NotFound for unknown, expired and foreign ids.
StatusOr<ContextRecord> FindContext(const OpenAiRoutes& routes, const CacheNamespace& ns,
                                    std::string_view id);

// Puts `context` before every request's prompt (see the file comment). The error is the API
// error of the context-length check (400, code context_length_exceeded, param per `use`).
std::optional<ApiError> PrependContext(const ContextRecord& context, const ModelInfo& model,
                                       const ApiLimits& limits, const ContextUse& use,
                                       std::span<GenerateRequest> requests);

}  // namespace gf::server
