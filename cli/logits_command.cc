// goldfinch logits: the logits of every prompt position, optionally fed in given chunk sizes,
// written as an F32 tensor "logits" [T, V] to a safetensors file.
#include <cstdio>
#include <numeric>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/model/safetensors.h"

namespace gf::cli {

namespace {

constexpr const char* kUsage =
    "usage: goldfinch logits --model DIR --tokens 1,2,3 [--chunk-sizes 5,11,7] --out FILE\n"
    "                        [--dtype f32|bf16] [--threads N]\n"
    "Writes an F32 tensor 'logits' [T, V] with the logits of every prompt position. With\n"
    "--chunk-sizes the prompt is fed in chunks of those sizes (they must add up to T), each\n"
    "continuing the state left by the previous one.\n";

Status Run(const Args& args) {
  auto tokens_text = args.Get("tokens");
  auto out = args.Get("out");
  if (!tokens_text) return InvalidArgument("--tokens is required");
  if (!out) return InvalidArgument("--out is required");
  auto parsed = ParseIntList(*tokens_text);
  if (!parsed.ok()) return parsed.status().WithContext("--tokens");
  const std::vector<int64_t>& ids64 = *parsed;
  std::vector<int32_t> tokens;
  for (int64_t id : ids64) {
    if (id < 0 || id > INT32_MAX) return InvalidArgument("--tokens: id out of range");
    tokens.push_back(static_cast<int32_t>(id));
  }
  const auto total = static_cast<int64_t>(tokens.size());
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> chunks,
                      args.GetIntList("chunk-sizes", {total}, 1, total));
  if (std::accumulate(chunks.begin(), chunks.end(), int64_t{0}) != total) {
    return InvalidArgument("--chunk-sizes must add up to the number of tokens (" +
                           std::to_string(total) + ")");
  }
  GF_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModelFromArgs(args));
  GoldFinchModel& model = *loaded.model;
  const int64_t V = model.config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(total * V));
  SequenceState state = model.NewState();
  int64_t pos = 0;
  std::vector<float> chunk_logits;
  for (int64_t n : chunks) {
    PrefillOptions options;
    options.chunk_tokens = n;
    options.all_logits = true;
    GF_RETURN_IF_ERROR(model.Prefill(
        state, std::span<const int32_t>(tokens).subspan(static_cast<size_t>(pos), static_cast<size_t>(n)),
        options, &chunk_logits));
    std::copy(chunk_logits.begin(), chunk_logits.end(), logits.begin() + pos * V);
    pos += n;
  }
  SafetensorToWrite tensor;
  tensor.name = "logits";
  tensor.dtype = StDType::kF32;
  tensor.shape = {total, V};
  tensor.data = logits.data();
  tensor.nbytes = logits.size() * sizeof(float);
  return WriteSafetensors(*out, {tensor}, {{"model", loaded.dir}});
}

}  // namespace

int RunLogits(int argc, char** argv) {
  std::set<std::string> value_flags = ModelValueFlags();
  value_flags.insert({"tokens", "chunk-sizes", "out"});
  return RunCommand(argc, argv, "logits", kUsage, value_flags, {}, &Run);
}

}  // namespace gf::cli
