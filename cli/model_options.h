// Flags shared by the subcommands that load a model: --model DIR (default: the built-in model),
// --dtype f32|bf16 (matrix storage), --threads N, --tokenizer FILE (World vocabulary override);
// and the benchmarks' --random-config L,D.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "cli/args.h"
#include "engine/model/goldfinch.h"
#include "engine/tokenizer/tokenizer.h"

namespace gf::cli {

// The value flags above, to merge into a command's flag set.
std::set<std::string> ModelValueFlags();

struct LoadedModel {
  std::string dir;
  std::unique_ptr<GoldFinchModel> model;
};

// Applies --threads and loads the model named by --model (or the built-in default).
StatusOr<LoadedModel> LoadModelFromArgs(const Args& args);

// The tokenizer the model's config names; a World vocabulary is looked up as --tokenizer, then
// the config's tokenizer_file (relative to the model directory).
StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFromArgs(const Args& args,
                                                           const LoadedModel& loaded);

// For benchmarks: the model of --model (as LoadModelFromArgs) or, with --random-config L,D
// (+ --vocab, --seed, --dtype, --threads), random weights. `description` names what was built.
StatusOr<std::unique_ptr<GoldFinchModel>> BuildModelFromArgs(const Args& args,
                                                             std::string* description);

}  // namespace gf::cli
