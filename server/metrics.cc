#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

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

std::string ServerMetrics::Serialize(const Engine* engine) {
  std::lock_guard<std::mutex> lock(scrape_mu_);
  if (engine != nullptr) {
    const EngineStats stats = engine->Stats();
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
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace gf::server
