// The goldfinch command-line tool, run as a user runs it: logits and generate on a golden case,
// seeded sampling, and error exits for bad input.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "tests/golden_fixture.h"

namespace gf::testing {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

RunResult RunTool(const std::string& args) {
  RunResult result;
  static const std::string err_file = MakeTempDir("gf-cli-err") + "/stderr.txt";
  const std::string cmd = std::string(GF_GOLDFINCH_BIN) + " " + args + " 2>" + err_file;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.out.append(buf.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (FILE* f = fopen(err_file.c_str(), "r")) {
    while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) result.err.append(buf.data(), n);
    fclose(f);
  }
  return result;
}

std::string Join(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

const char* kCase = "gf_L6_D128_hs64_V1000_T47";

TEST(CliTest, LogitsInChunksMatchGolden) {
  auto gc = LoadGoldenCase(kCase);
  ASSERT_NE(gc, nullptr);
  const std::string out = MakeTempDir("gf-cli") + "/logits.safetensors";
  RunResult r = RunTool("logits --model " + GoldenCaseDir(kCase) + " --tokens " +
                        Join(gc->prompt) + " --chunk-sizes 12,1,34 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto file = SafetensorsFile::Open(out);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const SafetensorInfo* info = file->Find("logits");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->dtype, StDType::kF32);
  EXPECT_EQ(info->shape, (std::vector<int64_t>{static_cast<int64_t>(gc->prompt.size()), gc->vocab}));
  auto logits = file->ReadF32("logits");
  ASSERT_TRUE(logits.ok());
  EXPECT_CLOSE_GOLDEN(logits->data(), gc->prompt_logits.data(), logits->size(), "cli logits");
}

TEST(CliTest, GreedyGenerateMatchesGoldenTokens) {
  auto gc = LoadGoldenCase(kCase);
  ASSERT_NE(gc, nullptr);
  RunResult r = RunTool("generate --model " + GoldenCaseDir(kCase) + " --tokens " +
                        Join(gc->prompt) + " --max-tokens 16 --print-ids --ignore-eos");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), Join(gc->gen_tokens));
}

TEST(CliTest, SeededSamplingIsRepeatable) {
  const std::string base = "generate --model " + GoldenCaseDir(kCase) +
                           " --tokens 1,2,3 --max-tokens 24 --print-ids --ignore-eos "
                           "--temperature 1.5 --top-p 0.95 ";
  RunResult a = RunTool(base + "--seed 7");
  RunResult b = RunTool(base + "--seed 7");
  RunResult c = RunTool(base + "--seed 8");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const std::string line_a = a.out.substr(0, a.out.find('\n'));
  EXPECT_EQ(line_a, b.out.substr(0, b.out.find('\n')));
  EXPECT_NE(line_a, c.out.substr(0, c.out.find('\n')));
  EXPECT_EQ(std::count(line_a.begin(), line_a.end(), ','), 23);
}

TEST(CliTest, BadInputGivesClearErrors) {
  const std::string model = " --model " + GoldenCaseDir(kCase);
  RunResult r = RunTool("generate" + model + " --tokens 1,2,5000 --print-ids");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("5000"), std::string::npos) << r.err;

  r = RunTool("generate" + model + " --tokens 1,x --print-ids");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--tokens"), std::string::npos) << r.err;

  r = RunTool("generate" + model + " --tokens 1 --temperature -1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--temperature"), std::string::npos) << r.err;

  r = RunTool("generate" + model + " --tokens 1 --frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown flag --frobnicate"), std::string::npos) << r.err;

  r = RunTool("logits" + model + " --tokens 1,2,3 --chunk-sizes 1,1 --out /tmp/x.safetensors");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("add up"), std::string::npos) << r.err;

  r = RunTool("generate --model /nonexistent/model --tokens 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/model"), std::string::npos) << r.err;

  r = RunTool("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gf::testing
