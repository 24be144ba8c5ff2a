// ServerMetrics: the Prometheus series of `goldfinch serve` (prometheus-cpp), served as text on
// GET /metrics of the HTTP port.
//
// Names follow the Prometheus rules under the goldfinch_ prefix: base units (_seconds), _total on
// counters, no per-request or per-user labels. Request-level series are observed by the server
// as events happen (thread-safe: prometheus-cpp metrics are atomic / internally locked); engine
// gauges and token counters are copied from Engine::Stats() at scrape time by Serialize().
//
// Prefix-cache series (goldfinch_cache_*) are rendered at scrape time straight from
// Engine::CacheStats() (cumulative engine counters become Prometheus counters as they are; the
// restore-time histogram is rebuilt from the stats' cumulative buckets). They are always
// present, all labels from the start (tier = memory|disk; reason = no_entry, token_mismatch,
// fingerprint_mismatch, corrupt, evicted, disabled), and read 0 while the model loads or when
// the server runs without a prefix cache:
//   counters  goldfinch_cache_{lookups,hits,hit_tokens,read_bytes,written_bytes,evictions,
//             write_failures,corrupt_records}_total{tier}, goldfinch_cache_misses_total{reason},
//             goldfinch_cache_{snapshots_stored,segments_stored,store_failures,captures_dropped,
//             rematerialized_tokens,rematerialize_seconds}_total
//   gauges    goldfinch_cache_bytes{tier}, goldfinch_cache_entries{tier},
//             goldfinch_cache_pending_store_bytes, goldfinch_cache_row_bytes_per_token
//             (segment bytes / segment tokens), goldfinch_cache_bytes_per_token ((segment +
//             snapshot bytes) / segment tokens); the ratios are 0 until a segment is stored
//   histogram goldfinch_cache_restore_seconds (a hit's read + decode, not the K/V rebuild)
// Named contexts (the context API, ContextRegistry::Stats at scrape time; 0 without a registry):
//   gauge     goldfinch_contexts (alive now, all tenants)
//   counters  goldfinch_contexts_{created,deleted,expired,lost}_total (lost: forgotten because
//             their snapshot was no longer stored)
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "engine/prefix_cache/context_registry.h"
#include "engine/serving/engine.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace gf::server {

class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();

  // One HTTP response: route is the route pattern ("/v1/completions", "other"), code its status.
  void ObserveHttpResponse(std::string_view route, int code);
  // One finished gRPC call: method is the goldfinch.v1.Inference method name ("Generate",
  // "Tokenize", "Detokenize", "ListModels"), grpc_code the canonical status code it ended with
  // (counted as its name: "OK", "INVALID_ARGUMENT", ...).
  void ObserveGrpcRequest(std::string_view method, int grpc_code);
  // A choice that finished: reason "stop", "length", "cancelled", "error".
  void ObserveFinish(std::string_view reason);
  // A request refused before it reached the engine: reason "queue_full", "not_ready",
  // "unauthorized", "invalid_request", "body_too_large", "context_length", "not_found".
  void ObserveRejected(std::string_view reason);
  void ObserveTimeToFirstToken(double seconds);
  void ObserveInterTokenLatency(double seconds);
  void ObserveEndToEndLatency(double seconds);
  void ObserveQueueTime(double seconds);
  void ObserveRequestTokens(int64_t prompt_tokens, int64_t generation_tokens);

  // The text exposition (format 0.0.4), with engine series refreshed from `engine` (may be null
  // while the model loads) and the context series from `contexts` (null: none).
  std::string Serialize(const Engine* engine, ContextRegistry* contexts = nullptr);
  // The same from given values: `stats` null = engine series unchanged (model loading);
  // `cache` / `contexts` nullopt = those series read 0.
  std::string SerializeStats(const EngineStats* stats, const std::optional<EngineCacheStats>& cache,
                             const std::optional<ContextStats>& contexts = std::nullopt);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* http_responses_;
  prometheus::Family<prometheus::Counter>* grpc_requests_;
  prometheus::Family<prometheus::Counter>* request_success_;
  prometheus::Family<prometheus::Counter>* rejected_;
  prometheus::Histogram* ttft_;
  prometheus::Histogram* itl_;
  prometheus::Histogram* e2e_;
  prometheus::Histogram* queue_time_;
  prometheus::Histogram* prompt_tokens_hist_;
  prometheus::Histogram* generation_tokens_hist_;
  prometheus::Gauge* running_;
  prometheus::Gauge* waiting_;
  prometheus::Gauge* batch_sequences_;
  prometheus::Gauge* batch_tokens_;
  prometheus::Counter* prompt_tokens_;
  prometheus::Counter* generation_tokens_;
  prometheus::Counter* steps_;

  std::mutex scrape_mu_;  // serialises Serialize (counter deltas below)
  EngineStats last_;      // engine totals already added to the counters
};

}  // namespace gf::server
