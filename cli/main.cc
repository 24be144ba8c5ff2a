// goldfinch: the command-line entry point. Subcommands: serve, logits, generate, bench.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"
#ifdef GF_HAVE_SERVER
#include "server/serve_command.h"
#endif

namespace {

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "usage: goldfinch <command> [flags]\n"
               "\n"
               "commands:\n"
               "  serve     run the OpenAI-compatible HTTP server\n"
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
  if (command == "serve") {
#ifdef GF_HAVE_SERVER
    return gf::server::RunServe(argc, argv);
#else
    std::fprintf(stderr, "goldfinch: this build has no server (its dependencies were missing)\n");
    return 1;
#endif
  }
  if (command == "--help" || command == "-h" || command == "help") {
    PrintUsage(stdout);
    return 0;
  }
  std::fprintf(stderr, "goldfinch: unknown command '%s'\n\n", command.c_str());
  PrintUsage(stderr);
  return 2;
}
