#include "tests/test_support.h"

#include <cstdlib>
#include <filesystem>
#include <random>

#include "kernels/kernels.h"

namespace gf::testing {

std::string SharedDir() {
  if (const char* env = std::getenv("GF_SHARED_DIR"); env != nullptr && *env != '\0') return env;
  return GF_SHARED_DIR;
}

std::string SourceDir() { return GF_SOURCE_DIR; }

std::string GoldenCaseDir(const std::string& name) { return SharedDir() + "/golden/" + name; }

std::string MakeTempDir(const std::string& prefix) {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto path = base / (prefix + "-" + std::to_string(rd()));
    std::error_code ec;
    if (std::filesystem::create_directory(path, ec)) return path.string();
  }
  return (base / prefix).string();
}

}  // namespace gf::testing

namespace {
// GF_TEST_THREADS=N pins the kernel thread count for a test run (e.g. 1 for bitwise repeatability).
[[maybe_unused]] const bool kThreadsApplied = [] {
  if (const char* env = std::getenv("GF_TEST_THREADS"); env != nullptr && *env != '\0') {
    gf::kernels::SetNumThreads(std::atoi(env));
  }
  return true;
}();
}  // namespace
