// `goldfinch bench`: prefill and decode speed of the engine against limits measured in the same
// run (cli/roofline.h) and work/traffic counted from the shapes (engine/model/cost_model.h).
//
// Defaults are sized to finish in a few minutes on 2 cores for the L12-D768 random config:
// prefill 1024 and 4096 tokens (16384 is opt-in: about 1-2 minutes per repeat on 2 cores),
// decode batches 1 and 8 at contexts 128 and 4096, 32 timed steps, 3 prefill repeats.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.h"
#include "cli/bench_stats.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/roofline.h"
#include "engine/model/cost_model.h"
#include "engine/model/goldfinch.h"
#include "engine/model/random_weights.h"
#include "engine/util/json.h"
#include "kernels/kernels.h"

namespace gf::cli {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kDecodeWarmupSteps = 2;

const char kUsage[] =
    "usage: goldfinch bench (--model DIR | --random-config L,D) [flags]\n"
    "       goldfinch bench cache [flags]   (prefix cache: cold vs warm TTFT; see --help there)\n"
    "\n"
    "Measures prefill and decode speed and compares them with the machine's limits, measured\n"
    "in the same run (read bandwidth, FP32 FMA peak, GEMM FLOP/s).\n"
    "\n"
    "  --model DIR              model directory (default: the built-in model)\n"
    "  --random-config L,D      random weights: L layers, width D (head size 64, World vocab)\n"
    "  --vocab V                vocabulary of --random-config (default 65536)\n"
    "  --seed S                 seed of --random-config (default 1)\n"
    "  --dtype f32|bf16         matrix storage (default f32)\n"
    "  --threads N              kernel threads (default: all cores)\n"
    "  --prefill-lengths LIST   prompt lengths (default 1024,4096; add 16384 for long prefill)\n"
    "                           (a LIST flag given as 'none' skips that part)\n"
    "  --chunk N                prefill tokens per forward call (default 512)\n"
    "  --repeats N              prefill runs per length, the median is reported (default 3)\n"
    "  --decode-batches LIST    sequences decoded together (default 1,8)\n"
    "  --decode-contexts LIST   tokens prefilled before decoding (default 128,4096)\n"
    "  --decode-steps N         timed decode steps (default 32, after 2 warm-up steps)\n"
    "  --bandwidth-mib N        buffer of the bandwidth probe (default 1024)\n"
    "  --gemm-size N            M = N = K of the GEMM probes (default 1024)\n"
    "  --no-roofline            skip the machine measurements\n"
    "  --json FILE              also write the results as JSON\n";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Percent, or "-" when the reference is unknown.
std::string Percent(double value, double reference) {
  if (!(reference > 0)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100.0 * value / reference);
  return buf;
}

// Synthetic token ids: deterministic, spread over the vocabulary.
std::vector<int32_t> SyntheticTokens(int64_t count, int64_t vocab, int64_t salt) {
  std::vector<int32_t> ids(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    ids[static_cast<size_t>(i)] = static_cast<int32_t>(((i + salt) * 7919) % vocab);
  }
  return ids;
}

Status CheckFinite(const std::vector<float>& logits, const std::string& what) {
  for (float v : logits) {
    if (!std::isfinite(v)) return Internal(what + " produced non-finite logits");
  }
  return Status::Ok();
}

struct BenchOptions {
  std::vector<int64_t> prefill_lengths, decode_batches, decode_contexts;
  int64_t chunk = 512;
  int64_t repeats = 3;
  int64_t decode_steps = 32;
  bool roofline = true;
  RooflineOptions roofline_options;
  std::string json_path;
};

struct PrefillResult {
  int64_t tokens = 0;
  std::vector<double> seconds;
  double median = 0;
  PrefillCost macs;
  // K/V rebuilt from the compressed rows of the prefilled state (what a prefix-cache restore
  // without the hot tier costs): one timing per repeat.
  std::vector<double> rebuild_seconds;
  double rebuild_median = 0;
  double rebuild_macs = 0;
};

struct DecodeResult {
  int64_t batch = 0, context = 0, steps = 0;
  std::vector<double> step_seconds;
  double total_seconds = 0;
  double macs = 0;   // all timed steps, all sequences
  double bytes = 0;  // all timed steps
  double median_step = 0;
};

// A comma-separated list flag; the value "none" skips that part of the benchmark.
StatusOr<std::vector<int64_t>> ListFlag(const Args& args, const std::string& name,
                                        const std::vector<int64_t>& fallback, int64_t max) {
  if (args.GetOr(name, "") == "none") return std::vector<int64_t>{};
  return args.GetIntList(name, fallback, 1, max);
}

StatusOr<BenchOptions> ParseBenchOptions(const Args& args) {
  BenchOptions o;
  GF_ASSIGN_OR_RETURN(o.prefill_lengths, ListFlag(args, "prefill-lengths", {1024, 4096}, 1 << 22));
  GF_ASSIGN_OR_RETURN(o.decode_batches, ListFlag(args, "decode-batches", {1, 8}, 1024));
  GF_ASSIGN_OR_RETURN(o.decode_contexts, ListFlag(args, "decode-contexts", {128, 4096}, 1 << 22));
  GF_ASSIGN_OR_RETURN(o.chunk, args.GetInt("chunk", 512, 1, 1 << 20));
  GF_ASSIGN_OR_RETURN(o.repeats, args.GetInt("repeats", 3, 1, 1000));
  GF_ASSIGN_OR_RETURN(o.decode_steps, args.GetInt("decode-steps", 32, 1, 1 << 20));
  GF_ASSIGN_OR_RETURN(int64_t mib, args.GetInt("bandwidth-mib", 1024, 1, 1 << 16));
  GF_ASSIGN_OR_RETURN(o.roofline_options.gemm_size, args.GetInt("gemm-size", 1024, 16, 8192));
  o.roofline_options.bandwidth_bytes = static_cast<size_t>(mib) << 20;
  o.roofline = !args.Has("no-roofline");
  o.json_path = args.GetOr("json", "");
  return o;
}

StatusOr<std::vector<PrefillResult>> RunPrefill(GoldFinchModel& model, const BenchOptions& o) {
  std::vector<PrefillResult> results;
  if (o.prefill_lengths.empty()) return results;
  const int64_t V = model.config().vocab_size;
  PrefillOptions popts;
  popts.chunk_tokens = o.chunk;
  std::vector<float> logits;
  {  // warm-up: grows the scratch buffers and wakes the thread pool
    SequenceState state = model.NewState();
    const auto ids = SyntheticTokens(std::min<int64_t>(o.prefill_lengths.front(), o.chunk), V, 0);
    GF_RETURN_IF_ERROR(model.Prefill(state, ids, popts, &logits));
  }
  for (int64_t T : o.prefill_lengths) {
    PrefillResult r;
    r.tokens = T;
    r.macs = PrefillMacs(model.config(), 0, T, o.chunk);
    const auto ids = SyntheticTokens(T, V, 0);
    r.rebuild_macs = RematerializeMacs(model.config(), T);
    for (int64_t rep = 0; rep < o.repeats; ++rep) {
      SequenceState state = model.NewState();
      const auto start = Clock::now();
      GF_RETURN_IF_ERROR(model.Prefill(state, ids, popts, &logits));
      r.seconds.push_back(Seconds(Clock::now() - start));
      state.DropKv();
      const auto rebuild_start = Clock::now();
      GF_RETURN_IF_ERROR(model.Rematerialize(state));
      r.rebuild_seconds.push_back(Seconds(Clock::now() - rebuild_start));
    }
    GF_RETURN_IF_ERROR(CheckFinite(logits, "prefill of " + std::to_string(T) + " tokens"));
    r.median = Median(r.seconds);
    r.rebuild_median = Median(r.rebuild_seconds);
    results.push_back(std::move(r));
  }
  return results;
}

StatusOr<std::vector<DecodeResult>> RunDecode(GoldFinchModel& model, const BenchOptions& o) {
  std::vector<DecodeResult> results;
  const int64_t V = model.config().vocab_size;
  PrefillOptions popts;
  popts.chunk_tokens = o.chunk;
  std::vector<float> logits;
  for (int64_t n : o.decode_contexts) {
    SequenceState base = model.NewState();
    GF_RETURN_IF_ERROR(model.Prefill(base, SyntheticTokens(n, V, 0), popts, &logits));
    for (int64_t B : o.decode_batches) {
      std::vector<SequenceState> states(static_cast<size_t>(B), base);  // forks of one prefix
      std::vector<SequenceState*> ptrs;
      for (auto& s : states) ptrs.push_back(&s);
      std::vector<int32_t> tokens(static_cast<size_t>(B));
      DecodeResult r;
      r.batch = B;
      r.context = n;
      r.steps = o.decode_steps;
      const int64_t total_steps = kDecodeWarmupSteps + o.decode_steps;
      for (int64_t step = 0; step < total_steps; ++step) {
        for (int64_t b = 0; b < B; ++b) {
          tokens[static_cast<size_t>(b)] =
              static_cast<int32_t>(((n + step) * 7919 + b * 104729) % V);
        }
        const auto start = Clock::now();
        GF_RETURN_IF_ERROR(model.DecodeStep(ptrs, tokens, &logits));
        const double seconds = Seconds(Clock::now() - start);
        if (step < kDecodeWarmupSteps) continue;
        const int64_t position = n + step;  // absolute position of the token just decoded
        r.step_seconds.push_back(seconds);
        r.total_seconds += seconds;
        r.macs += static_cast<double>(B) * DecodeStepMacs(model.config(), position);
        r.bytes += DecodeStepBytes(model.weights(), B, position).total();
      }
      GF_RETURN_IF_ERROR(CheckFinite(logits, "decode"));
      r.median_step = Median(r.step_seconds);
      results.push_back(std::move(r));
    }
  }
  return results;
}

void PrintHeader(const GoldFinchModel& model, const std::string& description) {
  const ModelConfig& c = model.config();
  std::printf("goldfinch bench: %s\n", description.c_str());
  std::printf(
      "model: L=%d C=%d F=%d heads=%dx%d Finch-C2 layers=%d GOLD layers=%d c=%d D_g=%d V=%d\n",
      c.n_layer, c.n_embd, c.dim_ffn, c.n_head, c.head_size, c.first_gold_layer, c.n_gold,
      c.compressed_dim, c.gold_lora_dim, c.vocab_size);
  std::printf("weights: %.1f MB, matrices and K/V cache in %s; %d kernel threads\n",
              static_cast<double>(model.weights().bytes) / 1e6,
              kernels::DTypeName(model.weights().matrix_dtype), kernels::NumThreads());
  // Other work on the machine skews every number below; say how busy it was.
  std::ifstream loadavg("/proc/loadavg");
  double load1 = 0;
  if (loadavg >> load1) {
    std::printf("machine: load average %.2f over %u hardware threads at start\n", load1,
                std::thread::hardware_concurrency());
  }
  std::printf("\n");
}

void PrintRoofline(const Roofline& r) {
  std::printf("roofline (measured in this run, best of repeats):\n");
  std::printf(
      "  read bandwidth   %8.2f GB/s (%d threads)   %8.2f GB/s (1 thread)   [%zu MiB streaming "
      "sum]\n",
      r.read_bw / 1e9, r.threads, r.read_bw_1t / 1e9, r.bandwidth_bytes >> 20);
  std::printf("  FP32 FMA peak    %8.1f GFLOP/s (%d threads) %6.1f GFLOP/s (1 thread) [%s]\n",
              r.fma_peak / 1e9, r.threads, r.fma_peak_1t / 1e9,
              r.avx2_fma ? "AVX2+FMA register loop" : "scalar loop, no AVX2+FMA");
  const std::string gemm = "GEMM " + std::to_string(r.gemm_size) + "^3";
  std::printf(
      "  %-16s %8.1f GFLOP/s F32 weights   %6.1f GFLOP/s BF16 weights   [kernels::Gemm]\n\n",
      gemm.c_str(), r.gemm_f32 / 1e9, r.gemm_bf16 / 1e9);
}

void PrintPrefill(const std::vector<PrefillResult>& results, const GoldFinchModel& model,
                  const BenchOptions& o, const Roofline& roof) {
  if (results.empty()) return;
  const double per_token = 2.0 * PrefillLinearMacsPerToken(model.config());
  const bool bf16 = model.weights().matrix_dtype == kernels::DType::kBF16;
  const double gemm_peak = bf16 ? roof.gemm_bf16 : roof.gemm_f32;
  std::printf("prefill (chunk %lld, median of %lld runs, fresh state each run)\n",
              static_cast<long long>(o.chunk), static_cast<long long>(o.repeats));
  std::printf(
      "  FLOPs = T x %.1f MFLOP/token (Finch stack + TokenCat + GOLD K/V) + per-chunk GOLD\n"
      "  windows of 2G+1 rows + one head row; %%GEMM vs the %s GEMM probe\n",
      per_token / 1e6, bf16 ? "BF16" : "F32");
  std::printf("  %8s %9s %9s %7s %7s %9s %10s %8s %8s\n", "tokens", "time s", "tok/s", "t/t1",
              "T/T1", "tail %", "GFLOP/s", "%GEMM", "%FMA");
  const PrefillResult& first = results.front();
  for (const PrefillResult& r : results) {
    const double flops = 2.0 * r.macs.total();
    const double rate = flops / r.median;
    std::printf("  %8lld %9.3f %9.1f %7.2f %7.2f %8.2f%% %10.1f %8s %8s\n",
                static_cast<long long>(r.tokens), r.median,
                static_cast<double>(r.tokens) / r.median, r.median / first.median,
                static_cast<double>(r.tokens) / static_cast<double>(first.tokens),
                100.0 * (r.macs.tail + r.macs.head) / r.macs.total(), rate / 1e9,
                Percent(rate, gemm_peak).c_str(), Percent(rate, roof.fma_peak).c_str());
  }
  std::printf("  (t/t1 tracking T/T1 shows prefill time linear in the prompt length)\n\n");

  std::printf(
      "K/V rebuild from the compressed rows (a prefix-cache restore without the hot tier)\n");
  std::printf(
      "  FLOPs = T x %.2f MFLOP/token (decompression + GOLD K/V); prefill/rebuild = time ratio\n",
      2.0 * RematerializeMacs(model.config(), 1) / 1e6);
  std::printf("  %8s %9s %9s %10s %8s %15s\n", "tokens", "time s", "tok/s", "GFLOP/s", "%GEMM",
              "prefill/rebuild");
  for (const PrefillResult& r : results) {
    const double rate = 2.0 * r.rebuild_macs / r.rebuild_median;
    std::printf("  %8lld %9.3f %9.1f %10.1f %8s %14.1fx\n", static_cast<long long>(r.tokens),
                r.rebuild_median, static_cast<double>(r.tokens) / r.rebuild_median, rate / 1e9,
                Percent(rate, gemm_peak).c_str(), r.median / r.rebuild_median);
  }
  std::printf("\n");
}

void PrintDecode(const std::vector<DecodeResult>& results, const GoldFinchModel& model,
                 const Roofline& roof) {
  if (results.empty()) return;
  const bool bf16 = model.weights().matrix_dtype == kernels::DType::kBF16;
  const double gemm_peak = bf16 ? roof.gemm_bf16 : roof.gemm_f32;
  const DecodeTraffic one = DecodeStepBytes(model.weights(), 1, 0);
  std::printf("decode (%d warm-up + timed steps per row; context = tokens prefilled before them)\n",
              kDecodeWarmupSteps);
  std::printf(
      "  bytes/step = weights %.1f MB (all tensors but the embedding table, shared by the batch)\n"
      "             + B x (recurrent state r+w %.2f MB + GOLD K/V read %.0f B per context token)\n",
      one.weights / 1e6, one.state / 1e6, one.kv);
  std::printf("  %5s %8s %6s %10s %10s %10s %9s %9s %8s %9s %8s\n", "batch", "context", "steps",
              "step ms", "mean ms", "tok/s", "MB/step", "GB/s", "%readBW", "GFLOP/s", "%GEMM");
  for (const DecodeResult& r : results) {
    const double mean = r.total_seconds / static_cast<double>(r.steps);
    const double bw = r.bytes / r.total_seconds;
    const double rate = 2.0 * r.macs / r.total_seconds;
    std::printf("  %5lld %8lld %6lld %10.2f %10.2f %10.1f %9.1f %9.2f %8s %9.1f %8s\n",
                static_cast<long long>(r.batch), static_cast<long long>(r.context),
                static_cast<long long>(r.steps), 1e3 * r.median_step, 1e3 * mean,
                static_cast<double>(r.batch * r.steps) / r.total_seconds,
                r.bytes / static_cast<double>(r.steps) / 1e6, bw / 1e9,
                Percent(bw, roof.read_bw).c_str(), rate / 1e9, Percent(rate, gemm_peak).c_str());
  }
  std::printf("\n");
}

JsonValue Num(double v) { return JsonValue::Number(v); }
JsonValue Int(int64_t v) { return JsonValue::Integer(v); }
JsonValue NumArray(const std::vector<double>& v) {
  std::vector<JsonValue> items;
  for (double x : v) items.push_back(Num(x));
  return JsonValue::Array(std::move(items));
}

std::string ResultsJson(const GoldFinchModel& model, const std::string& description,
                        const BenchOptions& o, const Roofline* roof,
                        const std::vector<PrefillResult>& prefill,
                        const std::vector<DecodeResult>& decode) {
  const ModelConfig& c = model.config();
  JsonValue model_json = JsonValue::Object({
      {"description", JsonValue::String(description)},
      {"n_layer", Int(c.n_layer)},
      {"n_embd", Int(c.n_embd)},
      {"dim_ffn", Int(c.dim_ffn)},
      {"head_size", Int(c.head_size)},
      {"first_gold_layer", Int(c.first_gold_layer)},
      {"n_gold", Int(c.n_gold)},
      {"vocab_size", Int(c.vocab_size)},
      {"dtype", JsonValue::String(kernels::DTypeName(model.weights().matrix_dtype))},
      {"weight_bytes", Int(static_cast<int64_t>(model.weights().bytes))},
      {"prefill_linear_flops_per_token", Num(2.0 * PrefillLinearMacsPerToken(c))},
  });
  JsonValue roof_json = JsonValue::Null();
  if (roof != nullptr) {
    roof_json = JsonValue::Object({
        {"threads", Int(roof->threads)},
        {"avx2_fma", JsonValue::Bool(roof->avx2_fma)},
        {"read_bytes_per_s", Num(roof->read_bw)},
        {"read_bytes_per_s_1thread", Num(roof->read_bw_1t)},
        {"fma_flops_per_s", Num(roof->fma_peak)},
        {"fma_flops_per_s_1thread", Num(roof->fma_peak_1t)},
        {"gemm_size", Int(roof->gemm_size)},
        {"gemm_f32_flops_per_s", Num(roof->gemm_f32)},
        {"gemm_bf16_flops_per_s", Num(roof->gemm_bf16)},
        {"bandwidth_buffer_bytes", Int(static_cast<int64_t>(roof->bandwidth_bytes))},
    });
  }
  std::vector<JsonValue> prefill_json;
  for (const PrefillResult& r : prefill) {
    prefill_json.push_back(JsonValue::Object({
        {"tokens", Int(r.tokens)},
        {"chunk_tokens", Int(o.chunk)},
        {"seconds", NumArray(r.seconds)},
        {"median_seconds", Num(r.median)},
        {"tokens_per_s", Num(static_cast<double>(r.tokens) / r.median)},
        {"flops", Num(2.0 * r.macs.total())},
        {"linear_flops", Num(2.0 * r.macs.linear)},
        {"tail_flops", Num(2.0 * r.macs.tail)},
        {"head_flops", Num(2.0 * r.macs.head)},
        {"flops_per_s", Num(2.0 * r.macs.total() / r.median)},
        {"rebuild_seconds", NumArray(r.rebuild_seconds)},
        {"rebuild_median_seconds", Num(r.rebuild_median)},
        {"rebuild_flops", Num(2.0 * r.rebuild_macs)},
    }));
  }
  std::vector<JsonValue> decode_json;
  for (const DecodeResult& r : decode) {
    decode_json.push_back(JsonValue::Object({
        {"batch", Int(r.batch)},
        {"context", Int(r.context)},
        {"steps", Int(r.steps)},
        {"warmup_steps", Int(kDecodeWarmupSteps)},
        {"step_seconds", NumArray(r.step_seconds)},
        {"median_step_seconds", Num(r.median_step)},
        {"tokens_per_s", Num(static_cast<double>(r.batch * r.steps) / r.total_seconds)},
        {"bytes_per_step", Num(r.bytes / static_cast<double>(r.steps))},
        {"bytes_per_s", Num(r.bytes / r.total_seconds)},
        {"flops_per_s", Num(2.0 * r.macs / r.total_seconds)},
    }));
  }
  return ToJson(JsonValue::Object({
      {"model", std::move(model_json)},
      {"threads", Int(kernels::NumThreads())},
      {"roofline", std::move(roof_json)},
      {"prefill", JsonValue::Array(std::move(prefill_json))},
      {"decode", JsonValue::Array(std::move(decode_json))},
  }));
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return NotFound("cannot open '" + path + "' for writing");
  out << text << '\n';
  out.close();
  if (!out) return DataLoss("cannot write '" + path + "'");
  return Status::Ok();
}

int Fail(const Status& status, int code) {
  std::fprintf(stderr, "goldfinch bench: %s\n", status.ToString().c_str());
  return code;
}

}  // namespace

int RunBench(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[2]) == "cache") return RunBenchCache(argc, argv);
  std::set<std::string> value_flags = ModelValueFlags();
  value_flags.insert({"random-config", "vocab", "seed", "prefill-lengths", "chunk", "repeats",
                      "decode-batches", "decode-contexts", "decode-steps", "bandwidth-mib",
                      "gemm-size", "json"});
  auto args = Args::Parse(argc, argv, 2, value_flags, {"help", "no-roofline"});
  if (!args.ok()) {
    std::fprintf(stderr, "%s", kUsage);
    return Fail(args.status(), 2);
  }
  if (args->Has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  auto options = ParseBenchOptions(*args);
  if (!options.ok()) return Fail(options.status(), 2);
  const BenchOptions& o = *options;

  std::string description;
  auto model = BuildModelFromArgs(*args, &description);
  if (!model.ok()) {
    return Fail(model.status(), model.status().code() == StatusCode::kInvalidArgument ? 2 : 1);
  }
  GoldFinchModel& m = **model;
  PrintHeader(m, description);
  std::fflush(stdout);

  Roofline roof;
  if (o.roofline) {
    auto measured = MeasureRoofline(o.roofline_options);
    if (!measured.ok()) return Fail(measured.status(), 1);
    roof = *measured;
    PrintRoofline(roof);
    std::fflush(stdout);
  }
  auto prefill = RunPrefill(m, o);
  if (!prefill.ok()) return Fail(prefill.status(), 1);
  PrintPrefill(*prefill, m, o, roof);
  std::fflush(stdout);
  auto decode = RunDecode(m, o);
  if (!decode.ok()) return Fail(decode.status(), 1);
  PrintDecode(*decode, m, roof);

  if (!o.json_path.empty()) {
    const std::string json =
        ResultsJson(m, description, o, o.roofline ? &roof : nullptr, *prefill, *decode);
    if (Status s = WriteFile(o.json_path, json); !s.ok()) return Fail(s, 1);
    std::printf("results written to %s\n", o.json_path.c_str());
  }
  return 0;
}

}  // namespace gf::cli
