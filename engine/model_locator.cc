#include "engine/model_locator.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace gf {

namespace fs = std::filesystem;

StatusOr<std::string> FindBuiltinModel() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("GOLDFINCH_MODEL_DIR"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path dir = exe.parent_path();
    for (const char* rel : {"../models", "../../models", "../../../models",
                            "../share/goldfinch/models"}) {
      candidates.push_back(dir / rel / kBuiltinModelName);
    }
  }
  candidates.push_back(fs::current_path(ec) / "models" / kBuiltinModelName);
#ifdef GF_SOURCE_ROOT
  candidates.push_back(fs::path(GF_SOURCE_ROOT) / "models" / kBuiltinModelName);
#endif
  std::string searched;
  for (const fs::path& p : candidates) {
    if (fs::exists(p / "config.json", ec)) return fs::weakly_canonical(p, ec).string();
    searched += "\n  " + p.lexically_normal().string();
  }
  return NotFound("the built-in model '" + std::string(kBuiltinModelName) +
                  "' was not found; pass --model DIR. Searched:" + searched);
}

}  // namespace gf
