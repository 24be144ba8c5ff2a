#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <utility>
#include <vector>

namespace gf::server {
namespace {

using prometheus::Histogram;

Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,  0.25,  0.5,  0.75,
          1.0,   2.5,    5.0,   7.5,  10.0,  20.0, 40.0,  80.0, 160.0, 640.0};
}

Histogram::BucketBoundaries TokenBuckets() {
  return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};
}

Histogram* AddHistogram(prometheus::Registry& registry, const std::string& name,
                        const std::string& help, Histogram::BucketBoundaries buckets) {
  return &prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add(
      {}, std::move(buckets));
}

prometheus::Gauge* AddGauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Counter* AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

double Delta(uint64_t now, uint64_t before) {
  return now >= before ? static_cast<double>(now - before) : 0.0;
}

// ---- Prefix-cache families, built from EngineCacheStats at scrape time ----

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Tier = PrefixCacheStats::Tier;

MetricFamily NewFamily(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

ClientMetric Sample(MetricType type, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return metric;
}

MetricFamily Single(std::string name, std::string help, MetricType type, double value) {
  MetricFamily family = NewFamily(std::move(name), std::move(help), type);
  family.metric.push_back(Sample(type, value));
  return family;
}

// One sample per tier, labelled tier="memory" / "disk".
template <typename Field>
MetricFamily PerTier(std::string name, std::string help, MetricType type,
                     const PrefixCacheStats& stats, Field field) {
  MetricFamily family = NewFamily(std::move(name), std::move(help), type);
  for (int t = 0; t < kNumCacheTiers; ++t) {
    const Tier& tier = stats.tiers[static_cast<size_t>(t)];
    family.metric.push_back(Sample(type, static_cast<double>(tier.*field),
                                   {{"tier", CacheTierName(static_cast<CacheTier>(t))}}));
  }
  return family;
}

double Ratio(uint64_t numerator, uint64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

MetricFamily RestoreHistogram(const PrefixCacheStats& stats) {
  MetricFamily family =
      NewFamily("goldfinch_cache_restore_seconds",
                "Time to restore a prefix-cache hit (read and decode; not the K/V rebuild)",
                MetricType::Histogram);
  ClientMetric metric;
  metric.histogram.sample_count = stats.restore_count;
  metric.histogram.sample_sum = stats.restore_seconds_sum;
  for (size_t i = 0; i < PrefixCacheStats::kRestoreBuckets.size(); ++i) {
    metric.histogram.bucket.push_back(
        {stats.restore_buckets[i], PrefixCacheStats::kRestoreBuckets[i]});
  }
  metric.histogram.bucket.push_back({stats.restore_count, std::numeric_limits<double>::infinity()});
  family.metric.push_back(std::move(metric));
  return family;
}

std::vector<MetricFamily> CacheFamilies(const EngineCacheStats& engine_stats) {
  const PrefixCacheStats& s = engine_stats.cache;
  constexpr MetricType kCounter = MetricType::Counter;
  constexpr MetricType kGauge = MetricType::Gauge;
  std::vector<MetricFamily> out;
  out.push_back(PerTier("goldfinch_cache_lookups_total",
                        "Prefix-cache lookups that reached this tier", kCounter, s,
                        &Tier::lookups));
  out.push_back(PerTier("goldfinch_cache_hits_total", "Prefix-cache lookups served from this tier",
                        kCounter, s, &Tier::hits));
  out.push_back(PerTier("goldfinch_cache_hit_tokens_total",
                        "Prompt tokens restored by hits served from this tier", kCounter, s,
                        &Tier::hit_tokens));
  MetricFamily misses =
      NewFamily("goldfinch_cache_misses_total",
                "Prefix-cache lookups that restored nothing, by reason", kCounter);
  for (int r = 0; r < kNumCacheMissReasons; ++r) {
    misses.metric.push_back(
        Sample(kCounter, static_cast<double>(s.misses[static_cast<size_t>(r)]),
               {{"reason", CacheMissReasonName(static_cast<CacheMissReason>(r))}}));
  }
  out.push_back(std::move(misses));
  out.push_back(PerTier("goldfinch_cache_bytes", "Record bytes held by the tier", kGauge, s,
                        &Tier::bytes_stored));
  out.push_back(
      PerTier("goldfinch_cache_entries", "Records held by the tier", kGauge, s, &Tier::entries));
  out.push_back(PerTier("goldfinch_cache_read_bytes_total", "Record bytes read from the tier",
                        kCounter, s, &Tier::bytes_read));
  out.push_back(PerTier("goldfinch_cache_written_bytes_total", "Record bytes written to the tier",
                        kCounter, s, &Tier::bytes_written));
  out.push_back(PerTier("goldfinch_cache_evictions_total",
                        "Records evicted from the tier to stay within its budget", kCounter, s,
                        &Tier::evictions));
  out.push_back(PerTier("goldfinch_cache_write_failures_total", "Failed record writes to the tier",
                        kCounter, s, &Tier::write_failures));
  out.push_back(PerTier("goldfinch_cache_corrupt_records_total",
                        "Records that failed verification and were deleted", kCounter, s,
                        &Tier::corrupt_deleted));
  out.push_back(Single("goldfinch_cache_snapshots_stored_total", "Snapshot records stored",
                       kCounter, static_cast<double>(s.snapshots_stored)));
  out.push_back(Single("goldfinch_cache_segments_stored_total",
                       "Compressed-row segment records stored", kCounter,
                       static_cast<double>(s.segments_stored)));
  out.push_back(Single("goldfinch_cache_store_failures_total", "Snapshot stores that failed",
                       kCounter, static_cast<double>(s.store_failures)));
  out.push_back(Single("goldfinch_cache_captures_dropped_total",
                       "Snapshots not stored because the store queue was full", kCounter,
                       static_cast<double>(engine_stats.captures_dropped)));
  out.push_back(Single("goldfinch_cache_pending_store_bytes",
                       "Bytes of captured snapshots waiting to be stored", kGauge,
                       static_cast<double>(engine_stats.pending_store_bytes)));
  out.push_back(RestoreHistogram(s));
  out.push_back(Single("goldfinch_cache_rematerialized_tokens_total",
                       "Attention K/V rows rebuilt after prefix-cache restores", kCounter,
                       static_cast<double>(engine_stats.rematerialize_tokens)));
  out.push_back(Single("goldfinch_cache_rematerialize_seconds_total",
                       "Time spent rebuilding (or copying from the hot tier) the attention K/V of "
                       "restored prefixes, on the cache thread",
                       kCounter, engine_stats.rematerialize_seconds));
  out.push_back(Single("goldfinch_cache_hot_hits_total",
                       "Restores whose attention K/V was copied from a kept state (hot tier)",
                       kCounter, static_cast<double>(engine_stats.hot.hits)));
  out.push_back(Single("goldfinch_cache_hot_hit_tokens_total",
                       "Attention K/V rows copied from the hot tier", kCounter,
                       static_cast<double>(engine_stats.hot.hit_tokens)));
  out.push_back(Single("goldfinch_cache_hot_bytes", "Bytes of states kept in the hot tier", kGauge,
                       static_cast<double>(engine_stats.hot.bytes)));
  out.push_back(Single("goldfinch_cache_hot_entries", "States kept in the hot tier", kGauge,
                       static_cast<double>(engine_stats.hot.entries)));
  out.push_back(Single("goldfinch_cache_hot_evictions_total", "States evicted from the hot tier",
                       kCounter, static_cast<double>(engine_stats.hot.evictions)));
  out.push_back(Single("goldfinch_cache_row_bytes_per_token",
                       "Stored compressed-row bytes per cached token (0 before the first segment)",
                       kGauge, Ratio(s.segment_bytes, s.segment_tokens)));
  out.push_back(Single("goldfinch_cache_bytes_per_token",
                       "Stored bytes (row segments and snapshots) per cached token (0 before the "
                       "first segment)",
                       kGauge, Ratio(s.segment_bytes + s.snapshot_bytes, s.segment_tokens)));
  return out;
}

std::vector<MetricFamily> ContextFamilies(const ContextStats& s) {
  constexpr MetricType kCounter = MetricType::Counter;
  std::vector<MetricFamily> out;
  out.push_back(Single("goldfinch_contexts", "Named contexts alive now, all tenants",
                       MetricType::Gauge, static_cast<double>(s.live)));
  out.push_back(Single("goldfinch_contexts_created_total", "Named contexts created", kCounter,
                       static_cast<double>(s.created)));
  out.push_back(Single("goldfinch_contexts_deleted_total", "Named contexts deleted", kCounter,
                       static_cast<double>(s.deleted)));
  out.push_back(Single("goldfinch_contexts_expired_total",
                       "Named contexts that reached their expiry (or were unpinned)", kCounter,
                       static_cast<double>(s.expired)));
  out.push_back(Single("goldfinch_contexts_lost_total",
                       "Named contexts forgotten because their snapshot was no longer stored",
                       kCounter, static_cast<double>(s.lost)));
  return out;
}

}  // namespace

ServerMetrics::ServerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  http_responses_ = &prometheus::BuildCounter()
                         .Name("goldfinch_http_responses_total")
                         .Help("HTTP responses by route and status code")
                         .Register(r);
  grpc_requests_ = &prometheus::BuildCounter()
                        .Name("goldfinch_grpc_requests_total")
                        .Help("gRPC calls by method and final status code")
                        .Register(r);
  request_success_ = &prometheus::BuildCounter()
                          .Name("goldfinch_request_success_total")
                          .Help("Finished completion choices by finish reason")
                          .Register(r);
  rejected_ = &prometheus::BuildCounter()
                   .Name("goldfinch_rejected_requests_total")
                   .Help("Requests refused before reaching the engine, by reason")
                   .Register(r);
  // Known label values start at 0 so rates and alerts work before the first occurrence.
  for (const char* reason : {"stop", "length", "cancelled", "error"}) {
    request_success_->Add({{"finished_reason", reason}});
  }
  for (const char* reason :
       {"queue_full", "not_ready", "unauthorized", "invalid_request", "context_length", "not_found",
        "body_too_large", "headers_too_large"}) {
    rejected_->Add({{"reason", reason}});
  }
  for (const char* method : {"Generate", "Tokenize", "Detokenize", "ListModels"}) {
    grpc_requests_->Add({{"method", method}, {"code", "OK"}});
  }
  ttft_ = AddHistogram(r, "goldfinch_time_to_first_token_seconds",
                       "Time from request arrival to the first generated token", LatencyBuckets());
  itl_ = AddHistogram(r, "goldfinch_inter_token_latency_seconds",
                      "Time between consecutive generated tokens of a choice", LatencyBuckets());
  e2e_ = AddHistogram(r, "goldfinch_e2e_request_latency_seconds",
                      "Time from request arrival to its last byte", LatencyBuckets());
  queue_time_ =
      AddHistogram(r, "goldfinch_request_queue_time_seconds",
                   "Time a request waited before its first engine step", LatencyBuckets());
  prompt_tokens_hist_ = AddHistogram(r, "goldfinch_request_prompt_tokens",
                                     "Prompt tokens per request", TokenBuckets());
  generation_tokens_hist_ = AddHistogram(r, "goldfinch_request_generation_tokens",
                                         "Generated tokens per request", TokenBuckets());
  running_ = AddGauge(r, "goldfinch_num_requests_running", "Sequences in the running batch");
  waiting_ = AddGauge(r, "goldfinch_num_requests_waiting", "Sequences queued, not yet admitted");
  batch_sequences_ =
      AddGauge(r, "goldfinch_batch_size", "Sequences in the most recent engine step");
  batch_tokens_ = AddGauge(r, "goldfinch_batch_tokens", "Tokens in the most recent engine step");
  prompt_tokens_ = AddCounter(r, "goldfinch_prompt_tokens_total", "Prompt tokens prefilled");
  generation_tokens_ = AddCounter(r, "goldfinch_generation_tokens_total", "Tokens generated");
  steps_ = AddCounter(r, "goldfinch_engine_steps_total", "Engine steps run");
}

ServerMetrics::~ServerMetrics() = default;

void ServerMetrics::ObserveHttpResponse(std::string_view route, int code) {
  http_responses_->Add({{"route", std::string(route)}, {"code", std::to_string(code)}}).Increment();
}

void ServerMetrics::ObserveGrpcRequest(std::string_view method, int grpc_code) {
  const char* code = grpc_code >= 0 && grpc_code <= static_cast<int>(StatusCode::kUnauthenticated)
                         ? StatusCodeName(static_cast<StatusCode>(grpc_code))
                         : "UNKNOWN";
  grpc_requests_->Add({{"method", std::string(method)}, {"code", code}}).Increment();
}

void ServerMetrics::ObserveFinish(std::string_view reason) {
  request_success_->Add({{"finished_reason", std::string(reason)}}).Increment();
}

void ServerMetrics::ObserveRejected(std::string_view reason) {
  rejected_->Add({{"reason", std::string(reason)}}).Increment();
}

void ServerMetrics::ObserveTimeToFirstToken(double seconds) { ttft_->Observe(seconds); }
void ServerMetrics::ObserveInterTokenLatency(double seconds) { itl_->Observe(seconds); }
void ServerMetrics::ObserveEndToEndLatency(double seconds) { e2e_->Observe(seconds); }
void ServerMetrics::ObserveQueueTime(double seconds) { queue_time_->Observe(seconds); }

void ServerMetrics::ObserveRequestTokens(int64_t prompt_tokens, int64_t generation_tokens) {
  prompt_tokens_hist_->Observe(static_cast<double>(prompt_tokens));
  generation_tokens_hist_->Observe(static_cast<double>(generation_tokens));
}

std::string ServerMetrics::Serialize(const Engine* engine, ContextRegistry* contexts) {
  std::optional<ContextStats> context_stats;
  if (contexts != nullptr) context_stats = contexts->Stats();
  if (engine == nullptr) return SerializeStats(nullptr, std::nullopt, context_stats);
  const EngineStats stats = engine->Stats();
  return SerializeStats(&stats, engine->CacheStats(), context_stats);
}

std::string ServerMetrics::SerializeStats(const EngineStats* engine_stats,
                                          const std::optional<EngineCacheStats>& cache,
                                          const std::optional<ContextStats>& contexts) {
  std::lock_guard<std::mutex> lock(scrape_mu_);
  if (engine_stats != nullptr) {
    const EngineStats& stats = *engine_stats;
    running_->Set(stats.running);
    waiting_->Set(stats.waiting);
    batch_sequences_->Set(stats.last_batch_sequences);
    batch_tokens_->Set(static_cast<double>(stats.last_batch_tokens));
    prompt_tokens_->Increment(Delta(stats.prompt_tokens_total, last_.prompt_tokens_total));
    generation_tokens_->Increment(
        Delta(stats.generation_tokens_total, last_.generation_tokens_total));
    steps_->Increment(Delta(stats.steps_total, last_.steps_total));
    last_ = stats;
  }
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : CacheFamilies(cache.value_or(EngineCacheStats{}))) {
    families.push_back(std::move(family));
  }
  for (prometheus::MetricFamily& family : ContextFamilies(contexts.value_or(ContextStats{}))) {
    families.push_back(std::move(family));
  }
  prometheus::TextSerializer serializer;
  return serializer.Serialize(families);
}

}  // namespace gf::server
