#include "server/serve_command.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <thread>

#include "engine/model/config.h"
#include "engine/model/goldfinch.h"
#include "engine/model_locator.h"
#include "engine/serving/engine.h"
#include "kernels/kernels.h"
#include "server/auth.h"
#include "server/cache_setup.h"
#include "server/context_api.h"
#ifdef GF_HAVE_GRPC
#include "server/grpc/grpc_server.h"
#endif
#include "server/http/http_server.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/openai/api_error.h"
#include "server/openai/chat_template.h"
#include "server/openai_routes.h"
#include "server/options.h"
#include "server/router.h"

namespace gf::server {
namespace {

struct LoadedServing {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<OpenAiRoutes> routes;
};

std::chrono::seconds WholeSeconds(double seconds) {
  return std::chrono::seconds(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds))));
}

HttpResponse RenderTransportError(int status, std::string message) {
  ApiError error = InvalidRequest("", std::move(message));
  error.http_status = status;
  if (status == 413) error.code = "request_too_large";
  if (status == 503) error.type = "service_unavailable";
  HttpResponse response;
  response.status = status;
  response.body = ErrorJson(error);
  if (status == 503) response.headers.emplace_back("retry-after", "1");
  return response;
}

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const ModelConfig& config,
                                                   const std::string& dir) {
  if (config.tokenizer == TokenizerKind::kByte) return MakeTokenizer("byte", "");
  if (config.tokenizer_file.empty()) {
    return InvalidArgument(
        "the model uses the World tokenizer but its config.json names no "
        "tokenizer_file");
  }
  return MakeTokenizer("world", (std::filesystem::path(dir) / config.tokenizer_file).string());
}

// The prefix cache (--cache): its store, its namespaces into `api`, the PrefixCache into
// `engine_options`. Fallbacks (disk tier unusable) are logged, never fatal.
Status SetUpCache(const ServeOptions& options, const GoldFinchModel& model,
                  const Tokenizer& tokenizer, EngineOptions& engine_options, ApiConfig& api) {
  if (!options.cache) {
    LogInfo("prefix cache: off (--cache=false)");
    return Status::Ok();
  }
  const CacheStoreConfig config =
      CacheStoreConfigFrom(options, std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"));
  auto setup = OpenCacheStore(config);
  if (!setup.ok()) return setup.status().WithContext("prefix cache");
  for (const std::string& line : setup->info) LogInfo(line);
  for (const std::string& line : setup->warnings) LogWarn(line);
  api.cache_namespaces = setup->namespaces;
  if (setup->store == nullptr) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  GF_ASSIGN_OR_RETURN(engine_options.prefix_cache,
                      MakePrefixCache(std::move(setup->store), model, tokenizer, options));
  engine_options.hot_kv_bytes = static_cast<uint64_t>(options.cache_hot_bytes);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char took[32];
  std::snprintf(took, sizeof(took), "%.2f", seconds);
  LogInfo("prefix cache: on (snapshot every " + std::to_string(options.cache_snapshot_interval) +
          " tokens, min " + std::to_string(options.cache_min_tokens) +
          " tokens; model fingerprint in " + took + " s)");
  // Named contexts (server/context_api.h), persisted beside the disk tier when there is one.
  api.contexts = OpenContextApi(engine_options.prefix_cache, setup->disk_dir,
                                static_cast<size_t>(options.cache_max_contexts));
  return Status::Ok();
}

StatusOr<LoadedServing> LoadServing(const ServeOptions& options, ServerMetrics& metrics) {
  if (options.threads > 0) kernels::SetNumThreads(options.threads);
  std::string dir = options.model;
  if (dir.empty()) {
    GF_ASSIGN_OR_RETURN(dir, FindBuiltinModel());
  }
  GF_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  const std::string dtype = !options.dtype.empty()         ? options.dtype
                            : !config.weight_dtype.empty() ? config.weight_dtype
                                                           : "f32";
  WeightLoadOptions load;
  load.matrix_dtype = dtype == "bf16" ? kernels::DType::kBF16 : kernels::DType::kF32;
  LogInfo("loading model " + dir + " (" + dtype + ")");
  auto model = GoldFinchModel::Load(dir, load);
  if (!model.ok()) return model.status().WithContext("loading model " + dir);
  GF_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(config, dir));
  GF_ASSIGN_OR_RETURN(ChatTemplate chat_template, ChatTemplate::Load(dir));

  EngineOptions engine_options;
  engine_options.scheduler.max_running = options.max_running;
  engine_options.scheduler.max_waiting = options.max_waiting;
  engine_options.scheduler.token_budget = std::max(options.step_token_budget, options.max_running);
  engine_options.scheduler.max_prefill_chunk = options.prefill_chunk;
  engine_options.max_model_len = options.max_model_len;
  ApiConfig api;
  GF_RETURN_IF_ERROR(SetUpCache(options, **model, *tokenizer, engine_options, api));
  LoadedServing loaded;
  GF_ASSIGN_OR_RETURN(loaded.engine,
                      Engine::Create(std::move(*model), std::move(tokenizer), engine_options));

  api.model.id = options.served_model_name.empty() ? config.name : options.served_model_name;
  api.model.vocab_size = config.vocab_size;
  api.model.max_model_len = loaded.engine->max_model_len();
  api.model.eos_id = config.eos_token_id;
  api.limits.max_json_depth = static_cast<size_t>(options.max_json_depth);
  api.limits.max_n = options.max_n;
  api.limits.max_tokens_cap = options.max_tokens_cap;
  api.request_timeout = std::chrono::duration<double>(options.request_timeout);
  api.created = static_cast<int64_t>(std::time(nullptr));
  loaded.routes = std::make_unique<OpenAiRoutes>(*loaded.engine, std::move(chat_template),
                                                 std::move(api), metrics);
  return loaded;
}

}  // namespace

int RunServe(int argc, char** argv) {
  const int skip = std::min(argc, 2);
  auto parsed = ParseServeOptions(argc - skip, argv + skip, GoldfinchEnvironment());
  if (!parsed.ok()) {
    std::fprintf(stderr, "goldfinch serve: %s\nRun 'goldfinch serve --help' for the options.\n",
                 parsed.status().message().c_str());
    return 2;
  }
  const ServeOptions& options = *parsed;
  if (options.help_requested) {
    std::fputs(HelpText().c_str(), stdout);
    return 0;
  }
  if (options.print_config_template) {
    std::fputs(ConfigTemplate().c_str(), stdout);
    return 0;
  }
  if (Status status = InitLogging(options.log_format, options.log_level); !status.ok()) {
    std::fprintf(stderr, "goldfinch serve: %s\n", status.message().c_str());
    return 2;
  }
  for (const std::string& warning : options.warnings) LogWarn(warning);
  LogEffectiveConfig(options);

  ApiKeyStore keys;
  if (Status status = keys.Load(options.api_key, options.api_key_file); !status.ok()) {
    LogError("api keys: " + status.message());
    FlushLogs();
    return 2;
  }
  if (keys.enabled()) LogInfo("API keys required (" + std::to_string(keys.size()) + " keys)");

  // SIGTERM/SIGINT are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ServerMetrics metrics;
  ServerState state;
  Router router(state, keys, metrics, options.public_metrics);
  HttpServerOptions http;
  http.host = options.host;
  http.port = options.port;
  http.io_threads = options.http_threads;
  http.limits.max_header_bytes = static_cast<size_t>(options.max_header_bytes);
  http.limits.max_body_bytes = static_cast<size_t>(options.max_body_bytes);
  http.limits.header_read_timeout = WholeSeconds(options.header_read_timeout);
  http.limits.idle_timeout = WholeSeconds(options.idle_timeout);
  http.limits.sse_keepalive_interval = std::chrono::milliseconds(
      std::max<int64_t>(1, static_cast<int64_t>(options.sse_keepalive_interval * 1000.0)));
  http.limits.max_stream_buffer_bytes = static_cast<size_t>(options.stream_buffer_bytes);
  http.make_error = [&metrics](int status, std::string message) {
    if (status == 413) metrics.ObserveRejected("body_too_large");
    if (status == 431) metrics.ObserveRejected("headers_too_large");
    metrics.ObserveHttpResponse("other", status);
    return RenderTransportError(status, std::move(message));
  };
  HttpServer server(http, [&router](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    router.Handle(std::move(request), std::move(writer));
  });
  if (Status status = server.Start(); !status.ok()) {
    LogError("cannot listen: " + status.message());
    FlushLogs();
    return 1;
  }
  LogInfo("listening on http://" + options.host + ":" + std::to_string(server.port()));

#ifdef GF_HAVE_GRPC
  // The gRPC port (--grpc-port 0 = off). Its Inference methods answer UNAVAILABLE and its health
  // says NOT_SERVING until the model is loaded.
  std::unique_ptr<GrpcServer> grpc_server;
  if (options.grpc_port != 0) {
    GrpcServerOptions grpc_options;
    grpc_options.host = options.host;
    grpc_options.port = options.grpc_port;
    grpc_options.max_message_bytes = options.grpc_max_message_bytes;
    grpc_options.keepalive_time = std::chrono::milliseconds(
        static_cast<int64_t>(std::ceil(options.grpc_keepalive_time * 1000.0)));
    grpc_options.keepalive_min_client_interval = std::chrono::milliseconds(
        static_cast<int64_t>(std::ceil(options.grpc_keepalive_min_client_interval * 1000.0)));
    grpc_server = std::make_unique<GrpcServer>(grpc_options, state, keys, metrics);
    if (Status status = grpc_server->Start(); !status.ok()) {
      LogError("grpc: " + status.message());
      server.Stop();
      FlushLogs();
      return 1;
    }
    LogInfo("grpc listening on " + options.host + ":" + std::to_string(grpc_server->port()));
  }
#else
  if (options.grpc_port != 0) LogWarn("this build has no gRPC support: --grpc-port is ignored");
#endif

  auto loaded = LoadServing(options, metrics);
  if (!loaded.ok()) {
    LogError(loaded.status().message());
#ifdef GF_HAVE_GRPC
    if (grpc_server) grpc_server->Shutdown(std::chrono::seconds(0));
#endif
    server.Stop();
    FlushLogs();
    return 1;
  }
  state.engine = loaded->engine.get();
  state.routes = loaded->routes.get();
#ifdef GF_HAVE_GRPC
  if (grpc_server) grpc_server->SetServing(true);
#endif
  LogInfo("ready: serving model '" + loaded->routes->model().id + "' (max_model_len " +
          std::to_string(loaded->routes->model().max_model_len) + ")");

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LogInfo(std::string("received ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM") +
          ": draining (up to " + std::to_string(options.shutdown_timeout) + " s)");
  state.draining = true;
#ifdef GF_HAVE_GRPC
  if (grpc_server) grpc_server->SetServing(false);
#endif
  Engine& engine = *loaded->engine;
  engine.StopAccepting();
  const auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options.shutdown_timeout));
  if (!engine.WaitIdle(timeout)) {
    const EngineStats stats = engine.Stats();
    LogWarn("shutdown timeout: cancelling " + std::to_string(stats.running + stats.waiting) +
            " unfinished requests");
  }
  engine.Shutdown();
#ifdef GF_HAVE_GRPC
  // Every call got its final engine event above; give the last messages a moment to go out,
  // then cancel whatever is left. Returns once no call is running.
  if (grpc_server) grpc_server->Shutdown(std::chrono::seconds(1));
  grpc_server.reset();
#endif
  server.StopAccepting();
  // Let the final events and responses reach the clients before the connections close.
  for (int i = 0; i < 20 && server.open_connections() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  server.Stop();
  state.routes = nullptr;
  state.engine = nullptr;
  LogInfo("stopped");
  FlushLogs();
  ShutdownLogging();
  return 0;
}

}  // namespace gf::server
