// Command-line flags of the goldfinch subcommands: `--name value`, `--name=value` and boolean
// `--flag`. Unknown flags and missing or malformed values are errors (InvalidArgument naming
// the flag), checked before any work starts. Plain value type, single-threaded use.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace gf::cli {

class Args {
 public:
  // Parses argv[first..argc). `value_flags` take a value; `bool_flags` do not.
  static StatusOr<Args> Parse(int argc, char** argv, int first,
                              const std::set<std::string>& value_flags,
                              const std::set<std::string>& bool_flags);

  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;
  StatusOr<double> GetDouble(const std::string& name, double fallback, double min, double max) const;
  // Comma-separated integers, each within [min, max]; `fallback` when the flag is absent.
  StatusOr<std::vector<int64_t>> GetIntList(const std::string& name,
                                            const std::vector<int64_t>& fallback, int64_t min,
                                            int64_t max) const;

 private:
  std::map<std::string, std::string> values_;
};

// The common shape of a subcommand's main: parses flags (plus --help), prints the usage on
// --help or a parse error, runs `run` and maps its Status to an exit code (0 ok, 2 bad usage or
// InvalidArgument, 1 anything else), printing errors as "goldfinch <command>: ...".
int RunCommand(int argc, char** argv, const char* command, const char* usage,
               std::set<std::string> value_flags, std::set<std::string> bool_flags,
               Status (*run)(const Args& args));

// Parses "1,2,3" into integers (InvalidArgument on anything else).
StatusOr<std::vector<int64_t>> ParseIntList(const std::string& text);

}  // namespace gf::cli
