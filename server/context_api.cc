#include "server/context_api.h"

#include <chrono>
#include <utility>

#include "server/logging.h"
#include "server/openai_routes.h"

namespace gf::server {
namespace {

// How long a creation waits for the engine's queued cache writes.
constexpr auto kCacheWriteWait = std::chrono::seconds(60);
// How long it waits, after those, for its snapshot to be queued and written (see Create).
constexpr auto kSnapshotAppearWait = std::chrono::seconds(2);

}  // namespace

// The job queue of the worker thread. Jobs get `true` to run, `false` when the ContextApi is
// being destroyed (they must then only report).
struct ContextApi::Worker {
  using Job = std::function<void(bool run)>;

  // Queues `job`; once Stop began, reports it inline instead (job(false)).
  void Post(Job job) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!stopping) {
        jobs.push_back(std::move(job));
        cv.notify_one();
        return;
      }
    }
    job(false);
  }

  void Loop() {
    while (true) {
      Job job;
      bool run = true;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [this] { return stopping || !jobs.empty(); });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
        run = !stopping;
      }
      job(run);
    }
  }

  // Reports every queued job (job(false)) and joins the thread.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
      cv.notify_all();
    }
    if (thread.joinable()) thread.join();
  }

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  bool stopping = false;
  std::thread thread;
};

namespace {

// The engine sink of a creation: on the final event, hands the rest to the worker.
class CreationSink final : public RequestSink {
 public:
  using Finish = std::function<void(bool run, const GenerateEvent& final_event)>;
  CreationSink(std::shared_ptr<ContextApi::Worker> worker, Finish finish)
      : worker_(std::move(worker)), finish_(std::move(finish)) {}

  void OnEvent(GenerateEvent event) override {
    if (event.finish == FinishReason::kNone) return;
    auto finish = std::move(finish_);
    worker_->Post(
        [finish = std::move(finish), event = std::move(event)](bool run) { finish(run, event); });
  }

 private:
  std::shared_ptr<ContextApi::Worker> worker_;
  Finish finish_;
};

}  // namespace

void ContextApi::Creation::Cancel() {
  Engine* to_cancel = nullptr;
  SeqId seq_id = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    cancelled = true;
    if (!finished && seq != 0) {
      to_cancel = engine;
      seq_id = seq;
    }
  }
  if (to_cancel != nullptr) to_cancel->Cancel(seq_id);
}

ContextApi::ContextApi(std::shared_ptr<ContextRegistry> registry,
                       std::shared_ptr<PrefixCache> cache)
    : cache_(std::move(cache)),
      registry_(std::move(registry)),
      worker_(std::make_shared<Worker>()) {
  worker_->thread = std::thread([worker = worker_.get()] { worker->Loop(); });
}

ContextApi::~ContextApi() { worker_->Stop(); }

std::shared_ptr<ContextApi> OpenContextApi(std::shared_ptr<PrefixCache> cache,
                                           const std::string& disk_dir, size_t max_per_namespace) {
  if (cache == nullptr) return nullptr;
  ContextRegistryOptions options;
  options.max_per_namespace = max_per_namespace;
  if (!disk_dir.empty()) options.dir = disk_dir + "/contexts";
  ContextLoadReport report;
  auto registry = ContextRegistry::Open(*cache, options, &report);
  if (!registry.ok() && !options.dir.empty()) {
    LogWarn("contexts: " + registry.status().message() + "; keeping contexts in memory only");
    options.dir.clear();
    registry = ContextRegistry::Open(*cache, options, &report);
  }
  if (!registry.ok()) {
    LogWarn("contexts: " + registry.status().message() + "; the context API is off");
    return nullptr;
  }
  if (options.dir.empty()) {
    LogInfo("contexts: kept in memory (no disk tier)");
  } else {
    LogInfo("contexts: " + std::to_string(report.loaded) + " loaded from " + options.dir + " (" +
            std::to_string(report.expired) + " expired, " + std::to_string(report.corrupt) +
            " corrupt, " + std::to_string(report.missing_snapshot) +
            " without their snapshot; dropped)");
  }
  return std::make_shared<ContextApi>(std::shared_ptr<ContextRegistry>(std::move(*registry)),
                                      std::move(cache));
}

CacheNamespace ContextNamespace(const OpenAiRoutes& routes, std::string_view tenant,
                                const std::optional<std::string>& cache_salt) {
  return CacheNamespace{routes.config().cache_namespaces.SaltHash(tenant, cache_salt)};
}

Status CheckContextTokens(const OpenAiRoutes& routes, size_t tokens) {
  const PrefixCache* cache = routes.engine().prefix_cache();
  const int64_t min_tokens = cache != nullptr ? cache->options().min_snapshot_tokens : 1;
  const auto count = static_cast<int64_t>(tokens);
  if (count < min_tokens) {
    return InvalidArgument("a context needs at least " + std::to_string(min_tokens) +
                           " tokens (the prefix cache keeps no shorter prefix), got " +
                           std::to_string(count));
  }
  const int64_t max_len = routes.model().max_model_len;
  if (count >= max_len) {
    return OutOfRange("This model's maximum context length is " + std::to_string(max_len) +
                      " tokens. However, the context has " + std::to_string(count) +
                      " tokens, which leaves no room for a completion. Please shorten it.");
  }
  return Status::Ok();
}

StatusOr<ContextRecord> FindContext(const OpenAiRoutes& routes, const CacheNamespace& ns,
                                    std::string_view id) {
  const std::shared_ptr<ContextApi>& api = routes.config().contexts;
  if (api == nullptr) {
    return Unavailable("contexts need the prefix cache, which is off on this server");
  }
  return api->registry().Get(ns, id);
}

std::shared_ptr<ContextApi::Creation> ContextApi::Create(const OpenAiRoutes& routes,
                                                         ContextCreateInput input,
                                                         CreateDone done) {
  if (Status status = CheckContextTokens(routes, input.tokens.size()); !status.ok()) {
    done(status);
    return nullptr;
  }
  Engine& engine = routes.engine();
  const CacheNamespace ns = ContextNamespace(routes, input.tenant, input.cache_salt);
  // The bound is checked again when registering; checking it first saves the engine work.
  if (registry_->Count(ns) >= registry_->options().max_per_namespace) {
    done(ResourceExhausted(std::string(kContextLimitMessage) + ": at most " +
                           std::to_string(registry_->options().max_per_namespace) +
                           " contexts may exist at once; delete some first"));
    return nullptr;
  }

  GenerateRequest request;
  request.id = input.request_id;
  request.tenant = input.tenant;
  request.prompt = input.tokens;
  request.max_tokens = 0;
  request.sampling.temperature = 0.0f;
  CacheRequestFields fields;
  fields.cache_prompt = true;
  fields.cache_salt = input.cache_salt;
  fields.snapshot_hints = std::move(input.snapshot_hints);
  request.cache = routes.config().cache_namespaces.OptionsFor(input.tenant, fields);
  request.deadline = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         routes.config().request_timeout);

  auto creation = std::make_shared<Creation>();
  creation->engine = &engine;
  auto tokens = std::make_shared<std::vector<TokenId>>(std::move(input.tokens));
  auto finish = [creation, registry = registry_, &engine, ns, tokens, ttl = input.ttl_seconds,
                 name = std::move(input.name), done](bool run, const GenerateEvent& event) {
    bool cancelled = false;
    {
      std::lock_guard<std::mutex> lock(creation->mu);
      creation->finished = true;
      cancelled = creation->cancelled;
    }
    if (!run) {
      done(Unavailable("the server is shutting down; the context was not created"));
      return;
    }
    if (cancelled) {
      done(Cancelled("the context creation was cancelled"));
      return;
    }
    if (event.finish == FinishReason::kError) {
      done(event.error.ok() ? Internal("the engine failed the request") : event.error);
      return;
    }
    if (event.finish == FinishReason::kCancelled) {
      done(Unavailable("the server is shutting down; the context was not created"));
      return;
    }
    // The final event can reach the sink before the engine queued the final snapshot (both
    // happen in the same engine step): wait for the writes until the snapshot is there, for at
    // most kSnapshotAppearWait after the first wait.
    const auto give_up = std::chrono::steady_clock::now() + kSnapshotAppearWait;
    while (true) {
      if (!engine.WaitForCacheWrites(kCacheWriteWait)) {
        done(Unavailable("the prefix cache is busy (its writes did not finish in time); retry"));
        return;
      }
      PrefixCache* cache = engine.prefix_cache();
      if (cache == nullptr || cache->HasSnapshot(ns, *tokens) ||
          std::chrono::steady_clock::now() >= give_up) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    StatusOr<ContextRecord> created = registry->Create(ns, *tokens, ttl, name);
    if (!created.ok() && created.status().code() == StatusCode::kNotFound) {
      created = Unavailable(
          "the prefix cache could not keep the context's state (it may be full of pinned "
          "contexts); delete or unpin contexts, or retry later");
    }
    done(std::move(created));
  };
  auto sink = std::make_shared<CreationSink>(worker_, std::move(finish));
  // The final event may arrive before Submit returns: hold the lock so Cancel sees the id.
  std::unique_lock<std::mutex> lock(creation->mu);
  StatusOr<SeqId> id = engine.Submit(std::move(request), sink);
  if (!id.ok()) {
    lock.unlock();
    Status status = id.status();
    if (status.code() == StatusCode::kResourceExhausted) {
      status = ResourceExhausted("the server is at capacity (request queue full); retry shortly");
    }
    done(status);
    return nullptr;
  }
  creation->seq = *id;
  return creation;
}

std::optional<ApiError> PrependContext(const ContextRecord& context, const ModelInfo& model,
                                       const ApiLimits& limits, const ContextUse& use,
                                       std::span<GenerateRequest> requests) {
  const std::vector<int32_t>& prefix = *context.tokens;
  const auto shift = static_cast<int64_t>(prefix.size());
  for (GenerateRequest& request : requests) {
    std::vector<TokenId> prompt;
    prompt.reserve(prefix.size() + request.prompt.size());
    prompt.insert(prompt.end(), prefix.begin(), prefix.end());
    prompt.insert(prompt.end(), request.prompt.begin(), request.prompt.end());
    const auto prompt_tokens = static_cast<int64_t>(prompt.size());
    if (use.explicit_max_tokens) {
      if (auto error = CheckContextLength(prompt_tokens, request.max_tokens, model, limits,
                                          use.prompt_param, use.max_tokens_param)) {
        return error;
      }
    } else {
      if (prompt_tokens >= model.max_model_len) {
        return InvalidRequest(use.prompt_param,
                              "This model's maximum context length is " +
                                  std::to_string(model.max_model_len) +
                                  " tokens. However, the context and your messages resulted in " +
                                  std::to_string(prompt_tokens) +
                                  " tokens. Please reduce the length of the messages.",
                              "context_length_exceeded");
      }
      int64_t fill = model.max_model_len - prompt_tokens;
      if (limits.max_tokens_cap > 0 && fill > limits.max_tokens_cap) fill = limits.max_tokens_cap;
      request.max_tokens = fill;
    }
    request.prompt = std::move(prompt);
    request.cache.salt_hash = context.ns.salt_hash;
    for (int64_t& hint : request.cache.snapshot_hints) hint += shift;
  }
  return std::nullopt;
}

}  // namespace gf::server
