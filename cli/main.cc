// goldfinch: the command-line entry point. Subcommands: logits, generate, bench.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"

namespace {

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "usage: goldfinch <command> [flags]\n"
               "\n"
               "commands:\n"
               "  generate  generate text or token ids from a prompt\n"
               "  logits    write the logits of every prompt position to a safetensors file\n"
               "  bench     measure prefill and decode speed against the machine's roofline\n"
               "\n"
               "Run 'goldfinch <command> --help' for the command's flags.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  const std::string command = argv[1];
  if (command == "generate") return gf::cli::RunGenerate(argc, argv);
  if (command == "logits") return gf::cli::RunLogits(argc, argv);
  if (command == "bench") return gf::cli::RunBench(argc, argv);
  if (command == "--help" || command == "-h" || command == "help") {
    PrintUsage(stdout);
    return 0;
  }
  std::fprintf(stderr, "goldfinch: unknown command '%s'\n\n", command.c_str());
  PrintUsage(stderr);
  return 2;
}
