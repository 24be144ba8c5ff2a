// Helpers shared by the test suites: paths to shared/ and the source tree.
#pragma once

#include <string>

namespace gf::testing {

// ../shared beside the project root (read-only test data).
std::string SharedDir();
// The project's source root.
std::string SourceDir();
// The directory of one public golden case, e.g. GoldenCaseDir("gf_L4_D64_hs32_V256_T23").
std::string GoldenCaseDir(const std::string& name);
// A fresh empty temporary directory (removed at process exit is not guaranteed).
std::string MakeTempDir(const std::string& prefix);

}  // namespace gf::testing
