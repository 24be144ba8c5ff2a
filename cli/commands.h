// The goldfinch subcommands. Each parses its own flags from argv[2..], prints errors to stderr
// and returns the process exit code (0 ok, 2 bad usage, 1 runtime failure).
#pragma once

namespace gf::cli {

int RunLogits(int argc, char** argv);
int RunGenerate(int argc, char** argv);
int RunBench(int argc, char** argv);
int RunBenchCache(int argc, char** argv);  // `goldfinch bench cache`

}  // namespace gf::cli
