// goldfinch generate: prefill a prompt and sample up to --max-tokens tokens, streaming text to
// stdout (never half a UTF-8 character), or the ids with --print-ids. Timing goes to stderr.
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/sampler.h"

namespace gf::cli {

namespace {

constexpr const char* kUsage =
    "usage: goldfinch generate [--model DIR] (--prompt TEXT | --tokens IDS) [--max-tokens N]\n"
    "         [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--repetition-penalty R]\n"
    "         [--presence-penalty P] [--frequency-penalty P] [--seed S] [--ignore-eos]\n"
    "         [--print-ids] [--echo] [--dtype f32|bf16] [--threads N] [--tokenizer VOCAB]\n"
    "Greedy by default (temperature 0). Without --model the built-in model is used.\n";

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Status Run(const Args& args) {
  if (args.Has("prompt") == args.Has("tokens")) {
    return InvalidArgument("give exactly one of --prompt and --tokens");
  }
  GF_ASSIGN_OR_RETURN(int64_t max_tokens, args.GetInt("max-tokens", 64, 0, 1 << 20));
  SamplingParams params;
  GF_ASSIGN_OR_RETURN(double temperature, args.GetDouble("temperature", 0.0, 0.0, 100.0));
  GF_ASSIGN_OR_RETURN(int64_t top_k, args.GetInt("top-k", 0, 0, 1 << 20));
  GF_ASSIGN_OR_RETURN(double top_p, args.GetDouble("top-p", 1.0, 0.0, 1.0));
  GF_ASSIGN_OR_RETURN(double min_p, args.GetDouble("min-p", 0.0, 0.0, 1.0));
  GF_ASSIGN_OR_RETURN(double rep, args.GetDouble("repetition-penalty", 1.0, 0.0, 100.0));
  GF_ASSIGN_OR_RETURN(double presence, args.GetDouble("presence-penalty", 0.0, -2.0, 2.0));
  GF_ASSIGN_OR_RETURN(double frequency, args.GetDouble("frequency-penalty", 0.0, -2.0, 2.0));
  GF_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0, 0, INT64_MAX));
  params.temperature = static_cast<float>(temperature);
  params.top_k = static_cast<int>(top_k);
  params.top_p = static_cast<float>(top_p);
  params.min_p = static_cast<float>(min_p);
  params.repetition_penalty = static_cast<float>(rep);
  params.presence_penalty = static_cast<float>(presence);
  params.frequency_penalty = static_cast<float>(frequency);
  params.seed = static_cast<uint64_t>(seed);

  GF_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModelFromArgs(args));
  GoldFinchModel& model = *loaded.model;
  const ModelConfig& cfg = model.config();
  GF_RETURN_IF_ERROR(params.Validate(cfg.vocab_size));
  const bool print_ids = args.Has("print-ids");

  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<int32_t> prompt;
  if (auto ids = args.Get("tokens")) {
    auto parsed = ParseIntList(*ids);
    if (!parsed.ok()) return parsed.status().WithContext("--tokens");
    const std::vector<int64_t>& ids64 = *parsed;
    for (int64_t id : ids64) {
      if (id < 0 || id >= cfg.vocab_size) {
        return InvalidArgument("--tokens: id " + std::to_string(id) + " is outside [0, " +
                               std::to_string(cfg.vocab_size) + ")");
      }
      prompt.push_back(static_cast<int32_t>(id));
    }
  } else {
    GF_ASSIGN_OR_RETURN(tokenizer, LoadTokenizerFromArgs(args, loaded));
    prompt = tokenizer->Encode(*args.Get("prompt"));
    if (prompt.empty()) return InvalidArgument("--prompt is empty");
  }
  if (!print_ids && tokenizer == nullptr) {
    auto t = LoadTokenizerFromArgs(args, loaded);
    if (t.ok()) tokenizer = std::move(*t);
  }
  // Ids that a tokenizer cannot print are never sampled.
  if (tokenizer != nullptr) {
    for (int32_t id = 0; id < cfg.vocab_size; ++id) {
      if (id != cfg.eos_token_id && tokenizer->TokenBytes(id).empty()) params.banned_ids.push_back(id);
    }
  }

  SequenceState state = model.NewState();
  std::vector<float> logits;
  const auto t0 = Clock::now();
  GF_RETURN_IF_ERROR(model.Prefill(state, prompt, PrefillOptions{}, &logits));
  const auto t1 = Clock::now();

  Sampler sampler(params, prompt);
  std::vector<int32_t> generated;
  std::unique_ptr<StreamingDetokenizer> detok;
  if (!print_ids && tokenizer != nullptr) {
    detok = std::make_unique<StreamingDetokenizer>(*tokenizer);
    if (args.Has("echo")) {
      std::string text = tokenizer->Decode(prompt);
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
  }
  const bool ignore_eos = args.Has("ignore-eos");
  for (int64_t i = 0; i < max_tokens; ++i) {
    SampleResult r = sampler.Sample(logits);
    if (r.token == cfg.eos_token_id && !ignore_eos) break;
    generated.push_back(r.token);
    if (detok != nullptr) {
      std::string text = detok->Push(r.token);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    }
    if (i + 1 == max_tokens) break;
    SequenceState* states[] = {&state};
    GF_RETURN_IF_ERROR(model.DecodeStep(states, std::span<const int32_t>(&r.token, 1), &logits));
  }
  const auto t2 = Clock::now();
  if (detok != nullptr) {
    std::string tail = detok->Flush();
    std::fwrite(tail.data(), 1, tail.size(), stdout);
    std::fputc('\n', stdout);
  } else {
    std::string line;
    for (size_t i = 0; i < generated.size(); ++i) {
      if (i > 0) line += ',';
      line += std::to_string(generated[i]);
    }
    std::printf("%s\n", line.c_str());
  }
  const double prefill_s = Seconds(t0, t1), decode_s = Seconds(t1, t2);
  std::fprintf(stderr,
               "[goldfinch] model %s: prompt %zu tokens in %.3f s (%.1f tok/s), generated %zu "
               "tokens in %.3f s (%.1f tok/s)\n",
               cfg.name.c_str(), prompt.size(), prefill_s,
               static_cast<double>(prompt.size()) / std::max(prefill_s, 1e-9), generated.size(),
               decode_s, static_cast<double>(generated.size()) / std::max(decode_s, 1e-9));
  return Status::Ok();
}

}  // namespace

int RunGenerate(int argc, char** argv) {
  std::set<std::string> value_flags = ModelValueFlags();
  value_flags.insert({"prompt", "tokens", "max-tokens", "temperature", "top-k", "top-p", "min-p",
                      "repetition-penalty", "presence-penalty", "frequency-penalty", "seed"});
  return RunCommand(argc, argv, "generate", kUsage, value_flags, {"print-ids", "ignore-eos", "echo"}, &Run);
}

}  // namespace gf::cli
