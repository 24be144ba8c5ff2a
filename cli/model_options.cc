#include "cli/model_options.h"

#include <filesystem>
#include <limits>

#include "engine/model/random_weights.h"
#include "engine/model_locator.h"
#include "kernels/kernels.h"

namespace gf::cli {

std::set<std::string> ModelValueFlags() { return {"model", "dtype", "threads", "tokenizer"}; }

StatusOr<LoadedModel> LoadModelFromArgs(const Args& args) {
  GF_ASSIGN_OR_RETURN(int64_t threads, args.GetInt("threads", 0, 0, 1024));
  if (threads > 0) kernels::SetNumThreads(static_cast<int>(threads));
  WeightLoadOptions options;
  const std::string dtype = args.GetOr("dtype", "f32");
  if (dtype == "f32") {
    options.matrix_dtype = kernels::DType::kF32;
  } else if (dtype == "bf16") {
    options.matrix_dtype = kernels::DType::kBF16;
  } else {
    return InvalidArgument("--dtype must be f32 or bf16, got '" + dtype + "'");
  }
  LoadedModel loaded;
  if (auto dir = args.Get("model")) {
    loaded.dir = *dir;
  } else {
    GF_ASSIGN_OR_RETURN(loaded.dir, FindBuiltinModel());
  }
  auto model = GoldFinchModel::Load(loaded.dir, options);
  if (!model.ok()) return model.status().WithContext("loading model " + loaded.dir);
  loaded.model = std::move(*model);
  return loaded;
}

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFromArgs(const Args& args,
                                                           const LoadedModel& loaded) {
  const ModelConfig& cfg = loaded.model->config();
  if (cfg.tokenizer == TokenizerKind::kByte) return MakeTokenizer("byte", "");
  std::string path = args.GetOr("tokenizer", "");
  if (path.empty() && !cfg.tokenizer_file.empty()) {
    path = (std::filesystem::path(loaded.dir) / cfg.tokenizer_file).string();
  }
  if (path.empty()) {
    return InvalidArgument(
        "the model uses the World tokenizer: pass --tokenizer rwkv_vocab_v20230424.txt or set "
        "tokenizer_file in its config.json");
  }
  return MakeTokenizer("world", path);
}

StatusOr<std::unique_ptr<GoldFinchModel>> BuildModelFromArgs(const Args& args,
                                                             std::string* description) {
  if (!args.Has("random-config")) {
    GF_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModelFromArgs(args));
    *description = loaded.model->config().name + " (" + loaded.dir + ")";
    return std::move(loaded.model);
  }
  if (args.Has("model")) return InvalidArgument("--model and --random-config are exclusive");
  GF_ASSIGN_OR_RETURN(int64_t threads, args.GetInt("threads", 0, 0, 1024));
  if (threads > 0) kernels::SetNumThreads(static_cast<int>(threads));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> ld, args.GetIntList("random-config", {}, 1, 65536));
  if (ld.size() != 2) return InvalidArgument("--random-config must be L,D (two integers)");
  GF_ASSIGN_OR_RETURN(int64_t vocab, args.GetInt("vocab", 65536, 2, 1 << 24));
  GF_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 1, 0, std::numeric_limits<int64_t>::max()));
  const std::string dtype = args.GetOr("dtype", "f32");
  kernels::DType matrix_dtype;
  if (dtype == "f32") {
    matrix_dtype = kernels::DType::kF32;
  } else if (dtype == "bf16") {
    matrix_dtype = kernels::DType::kBF16;
  } else {
    return InvalidArgument("--dtype must be f32 or bf16, got '" + dtype + "'");
  }
  const ModelConfig config =
      RandomConfig(static_cast<int>(ld[0]), static_cast<int>(ld[1]), static_cast<int>(vocab));
  auto weights = MakeRandomWeights(config, matrix_dtype, static_cast<uint64_t>(seed));
  if (!weights.ok()) return weights.status().WithContext("--random-config");
  *description = config.name + " (random weights, seed " + std::to_string(seed) + ")";
  return std::make_unique<GoldFinchModel>(std::move(weights).value());
}

}  // namespace gf::cli
