#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace gf::cli {

namespace {

// "--name". (Built with append: GCC 12 warns -Wrestrict falsely on Flag(name) here.)
std::string Flag(const std::string& name) {
  std::string flag = "--";
  flag.append(name);
  return flag;
}

StatusOr<int64_t> ParseInt(const std::string& text) {
  if (text.empty()) return InvalidArgument("empty integer");
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) {
    return InvalidArgument("not an integer: '" + text + "'");
  }
  return static_cast<int64_t>(v);
}

}  // namespace

StatusOr<Args> Args::Parse(int argc, char** argv, int first,
                           const std::set<std::string>& value_flags,
                           const std::set<std::string>& bool_flags) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) return InvalidArgument("unexpected argument '" + arg + "'");
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (value_flags.count(name) != 0) {
      if (!value) {
        if (i + 1 >= argc) return InvalidArgument(Flag(name) + " needs a value");
        value = argv[++i];
      }
      args.values_[name] = *value;
    } else if (bool_flags.count(name) != 0) {
      if (value) return InvalidArgument(Flag(name) + " takes no value");
      args.values_[name].assign(1, '1');  // not = "1": GCC 12 -Wrestrict false positive
    } else {
      return InvalidArgument("unknown flag --" + name);
    }
  }
  return args;
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::GetOr(const std::string& name, const std::string& fallback) const {
  auto v = Get(name);
  return v ? *v : fallback;
}

StatusOr<int64_t> Args::GetInt(const std::string& name, int64_t fallback, int64_t min,
                               int64_t max) const {
  auto v = Get(name);
  if (!v) return fallback;
  auto parsed = ParseInt(*v);
  if (!parsed.ok()) return parsed.status().WithContext(Flag(name));
  if (*parsed < min || *parsed > max) {
    return InvalidArgument(Flag(name) + " must be in [" + std::to_string(min) + ", " +
                           std::to_string(max) + "], got " + *v);
  }
  return *parsed;
}

StatusOr<double> Args::GetDouble(const std::string& name, double fallback, double min,
                                 double max) const {
  auto v = Get(name);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(v->c_str(), &end);
  if (v->empty() || errno != 0 || end != v->c_str() + v->size() || !std::isfinite(d)) {
    return InvalidArgument(Flag(name) + ": not a number: '" + *v + "'");
  }
  if (d < min || d > max) {
    return InvalidArgument(Flag(name) + " must be in [" + std::to_string(min) + ", " +
                           std::to_string(max) + "], got " + *v);
  }
  return d;
}

StatusOr<std::vector<int64_t>> ParseIntList(const std::string& text) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    GF_ASSIGN_OR_RETURN(int64_t v, ParseInt(text.substr(pos, comma - pos)));
    out.push_back(v);
    pos = comma + 1;
  }
  return out;
}

StatusOr<std::vector<int64_t>> Args::GetIntList(const std::string& name,
                                                const std::vector<int64_t>& fallback, int64_t min,
                                                int64_t max) const {
  auto v = Get(name);
  if (!v) return fallback;
  auto list = ParseIntList(*v);
  if (!list.ok()) return list.status().WithContext(Flag(name));
  for (int64_t x : *list) {
    if (x < min || x > max) {
      return InvalidArgument(Flag(name) + ": " + std::to_string(x) + " is outside [" +
                             std::to_string(min) + ", " + std::to_string(max) + "]");
    }
  }
  return list;
}

int RunCommand(int argc, char** argv, const char* command, const char* usage,
               std::set<std::string> value_flags, std::set<std::string> bool_flags,
               Status (*run)(const Args& args)) {
  bool_flags.insert("help");
  auto args = Args::Parse(argc, argv, 2, value_flags, bool_flags);
  if (!args.ok()) {
    std::fprintf(stderr, "goldfinch %s: %s\n%s", command, args.status().message().c_str(), usage);
    return 2;
  }
  if (args->Has("help")) {
    std::fputs(usage, stdout);
    return 0;
  }
  const Status s = run(*args);
  if (!s.ok()) {
    std::fprintf(stderr, "goldfinch %s: %s\n", command, s.ToString().c_str());
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace gf::cli
