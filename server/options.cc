#include "server/options.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>
#include <sstream>
#include <type_traits>

#include "server/byte_count.h"
#include "server/config_file.h"

extern char** environ;

namespace gf::server {
namespace {

using Field = std::variant<bool ServeOptions::*, int ServeOptions::*, std::int64_t ServeOptions::*,
                           double ServeOptions::*, std::string ServeOptions::*,
                           std::vector<std::string> ServeOptions::*>;

struct OptionSpec {
  std::string name;  // "max-body-bytes"
  std::string env;   // "GOLDFINCH_MAX_BODY_BYTES"
  std::string key;   // "max_body_bytes" (config file spelling)
  const char* group;
  Field field;
  double lo;
  double hi;
  unsigned flags;
  const char* choices;  // nullptr or "a|b|c"
  const char* help;

  bool secret() const { return (flags & kOptSecret) != 0; }
  bool byte_size() const { return (flags & kOptByteSize) != 0; }
};

std::string DashName(std::string_view field) {
  std::string s(field);
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

const std::vector<OptionSpec>& Specs() {
  static const std::vector<OptionSpec> specs = [] {
    std::vector<OptionSpec> v;
#define GF_SERVE_OPTION_SPEC_(field_, type, def, group, lo, hi, flags, choices, help)      \
  v.push_back(OptionSpec{DashName(#field_), EnvNameFor(DashName(#field_)), #field_, group, \
                         Field(&ServeOptions::field_), static_cast<double>(lo),            \
                         static_cast<double>(hi), flags, choices, help});
    GF_SERVE_OPTION_LIST(GF_SERVE_OPTION_SPEC_)
#undef GF_SERVE_OPTION_SPEC_
    return v;
  }();
  return specs;
}

const OptionSpec* FindOption(std::string_view name) {
  for (const OptionSpec& s : Specs()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> SplitChoices(const char* choices) {
  std::vector<std::string> out;
  if (choices == nullptr) return out;
  std::string_view s(choices);
  while (true) {
    const std::size_t bar = s.find('|');
    out.emplace_back(s.substr(0, bar));
    if (bar == std::string_view::npos) break;
    s.remove_prefix(bar + 1);
  }
  return out;
}

// Shortest round-trip text; whole numbers below 1e15 are written without an exponent.
std::string FormatDouble(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<std::int64_t>(v));
  }
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "?";
  return std::string(buf, end);
}

// A TOML float literal: always has '.' or an exponent.
std::string TomlDouble(double v) {
  std::string s = FormatDouble(v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string FormatBound(const OptionSpec& spec, double bound) {
  if (std::holds_alternative<double ServeOptions::*>(spec.field)) return FormatDouble(bound);
  return std::to_string(static_cast<std::int64_t>(bound));
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Values are checked as they are set, so the error can name the source.
Status CheckRange(const OptionSpec& spec, double v, const std::string& shown) {
  const bool low_ok = (spec.flags & kOptMinExclusive) ? v > spec.lo : v >= spec.lo;
  if (low_ok && v <= spec.hi) return Status::Ok();
  return InvalidArgument(
      spec.name + " must be " + ((spec.flags & kOptMinExclusive) ? "> " : ">= ") +
      FormatBound(spec, spec.lo) + " and <= " + FormatBound(spec, spec.hi) + ", got " + shown);
}

Status CheckString(const OptionSpec& spec, const std::string& v) {
  if ((spec.flags & kOptNonEmpty) && v.empty())
    return InvalidArgument(spec.name + " must not be empty");
  if (v.find('\0') != std::string::npos) return InvalidArgument(spec.name + " contains a NUL byte");
  if (spec.choices == nullptr) return Status::Ok();
  const std::vector<std::string> choices = SplitChoices(spec.choices);
  if (std::find(choices.begin(), choices.end(), v) != choices.end()) return Status::Ok();
  std::string allowed;
  for (const std::string& c : choices) {
    if (!allowed.empty()) allowed += ", ";
    allowed += c.empty() ? "\"\"" : c;
  }
  return InvalidArgument(spec.name + " must be one of " + allowed + ", got '" + v + "'");
}

std::string ByteCountExpected(const OptionSpec& spec) {
  return spec.name + " must be a byte count (an integer, optionally followed by KiB, MiB, GiB, " +
         "TiB, KB, MB, GB or TB)";
}

Status SetInt(ServeOptions& o, const OptionSpec& spec, std::int64_t v) {
  GF_RETURN_IF_ERROR(CheckRange(spec, static_cast<double>(v), std::to_string(v)));
  if (auto* f = std::get_if<int ServeOptions::*>(&spec.field)) {
    o.*(*f) = static_cast<int>(v);  // the range check keeps it within int
  } else {
    o.*std::get<std::int64_t ServeOptions::*>(spec.field) = v;
  }
  return Status::Ok();
}

Status SetDouble(ServeOptions& o, const OptionSpec& spec, double v) {
  if (!std::isfinite(v)) return InvalidArgument(spec.name + " must be a finite number");
  GF_RETURN_IF_ERROR(CheckRange(spec, v, FormatDouble(v)));
  o.*std::get<double ServeOptions::*>(spec.field) = v;
  return Status::Ok();
}

// Splits "a, b,,c" into {"a","b","c"} (items trimmed, empty items dropped).
std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  while (true) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// Sets an option from text (a flag or environment value). `append` adds to a list instead of
// replacing it. Error messages never echo a secret's value.
Status SetFromText(ServeOptions& o, const OptionSpec& spec, std::string_view text, bool append) {
  const std::string shown = spec.secret() ? "<redacted>" : "'" + std::string(text) + "'";
  if (std::holds_alternative<bool ServeOptions::*>(spec.field)) {
    const std::string t = Lower(text);
    bool v;
    if (t == "true" || t == "1" || t == "yes" || t == "on") {
      v = true;
    } else if (t == "false" || t == "0" || t == "no" || t == "off") {
      v = false;
    } else {
      return InvalidArgument(spec.name + " must be true or false, got " + shown);
    }
    o.*std::get<bool ServeOptions::*>(spec.field) = v;
    return Status::Ok();
  }
  if (spec.byte_size()) {
    const std::optional<std::int64_t> v = ParseByteCount(text);
    if (!v.has_value()) return InvalidArgument(ByteCountExpected(spec) + ", got " + shown);
    return SetInt(o, spec, *v);
  }
  if (std::holds_alternative<int ServeOptions::*>(spec.field) ||
      std::holds_alternative<std::int64_t ServeOptions::*>(spec.field)) {
    std::string_view t = text;
    if (!t.empty() && t.front() == '+') t.remove_prefix(1);
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
      return InvalidArgument(spec.name + " must be an integer, got " + shown);
    }
    return SetInt(o, spec, v);
  }
  if (std::holds_alternative<double ServeOptions::*>(spec.field)) {
    std::string_view t = text;
    if (!t.empty() && t.front() == '+') t.remove_prefix(1);
    double v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v)) {
      return InvalidArgument(spec.name + " must be a number, got " + shown);
    }
    return SetDouble(o, spec, v);
  }
  if (auto* f = std::get_if<std::string ServeOptions::*>(&spec.field)) {
    std::string v(text);
    GF_RETURN_IF_ERROR(CheckString(spec, v));
    o.*(*f) = std::move(v);
    return Status::Ok();
  }
  auto& list = o.*std::get<std::vector<std::string> ServeOptions::*>(spec.field);
  if (!append) list.clear();
  for (std::string& item : SplitList(text)) list.push_back(std::move(item));
  return Status::Ok();
}

// Sets an option from a typed config-file value; the types must match (an integer is accepted
// for a float option).
Status SetFromConfig(ServeOptions& o, const OptionSpec& spec, const ConfigValue& value) {
  auto mismatch = [&](const char* expected) {
    return InvalidArgument(spec.name + " must be " + expected + ", got " +
                           ConfigValueTypeName(value));
  };
  if (auto* f = std::get_if<bool ServeOptions::*>(&spec.field)) {
    if (!std::holds_alternative<bool>(value)) return mismatch("true or false");
    o.*(*f) = std::get<bool>(value);
    return Status::Ok();
  }
  if (std::holds_alternative<int ServeOptions::*>(spec.field) ||
      std::holds_alternative<std::int64_t ServeOptions::*>(spec.field)) {
    if (const auto* text = std::get_if<std::string>(&value); text != nullptr && spec.byte_size()) {
      const std::optional<std::int64_t> v = ParseByteCount(*text);
      if (!v.has_value()) {
        return InvalidArgument(ByteCountExpected(spec) + ", got '" + *text + "'");
      }
      return SetInt(o, spec, *v);
    }
    if (!std::holds_alternative<std::int64_t>(value)) {
      return mismatch(spec.byte_size() ? "an integer or a size string (\"1GiB\")" : "an integer");
    }
    return SetInt(o, spec, std::get<std::int64_t>(value));
  }
  if (std::holds_alternative<double ServeOptions::*>(spec.field)) {
    if (const auto* i = std::get_if<std::int64_t>(&value)) {
      return SetDouble(o, spec, static_cast<double>(*i));
    }
    if (!std::holds_alternative<double>(value)) return mismatch("a number");
    return SetDouble(o, spec, std::get<double>(value));
  }
  if (auto* f = std::get_if<std::string ServeOptions::*>(&spec.field)) {
    if (!std::holds_alternative<std::string>(value)) return mismatch("a string (in double quotes)");
    GF_RETURN_IF_ERROR(CheckString(spec, std::get<std::string>(value)));
    o.*(*f) = std::get<std::string>(value);
    return Status::Ok();
  }
  if (!std::holds_alternative<std::vector<std::string>>(value)) {
    return mismatch("an array of strings ([\"a\", \"b\"])");
  }
  o.*std::get<std::vector<std::string> ServeOptions::*>(spec.field) =
      std::get<std::vector<std::string>>(value);
  return Status::Ok();
}

struct TextAssignment {
  const OptionSpec* spec;
  std::string value;
  std::string where;  // "--port" or "environment variable GOLDFINCH_PORT"
};

// Splits the command line into assignments; sets the action flags.
Status ScanCommandLine(const std::vector<std::string>& args, ServeOptions& o,
                       std::vector<TextAssignment>& out) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      o.help_requested = true;
      continue;
    }
    if (arg == "--print-config-template") {
      o.print_config_template = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      return InvalidArgument("command line: unexpected argument '" + arg +
                             "' (options are written --name value or --name=value)");
    }
    const std::size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const OptionSpec* spec = FindOption(name);
    if (spec == nullptr) {
      // Never echo the value: it might be a mistyped secret.
      return InvalidArgument("command line: unknown option '--" + name + "' (see --help)");
    }
    const std::string where = "command line --" + name;
    if (eq != std::string::npos) {
      out.push_back({spec, arg.substr(eq + 1), where});
    } else if (std::holds_alternative<bool ServeOptions::*>(spec->field)) {
      out.push_back({spec, "true", where});
    } else if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0) {
      return InvalidArgument(where + ": missing value");
    } else {
      out.push_back({spec, args[++i], where});
    }
  }
  return Status::Ok();
}

// Applies one source's assignments: a list option's first assignment replaces, later ones append.
Status ApplyTextAssignments(const std::vector<TextAssignment>& assignments, const char* source,
                            ServeOptions& o) {
  std::set<std::string> set_here;
  for (const TextAssignment& a : assignments) {
    const bool append = !set_here.insert(a.spec->name).second;
    Status st = SetFromText(o, *a.spec, a.value, append);
    if (!st.ok()) return InvalidArgument(a.where + ": " + st.message());
    o.sources[a.spec->name] = source;
  }
  return Status::Ok();
}

Status ApplyConfigFile(const std::string& path, ServeOptions& o) {
  const std::string in_file = " (in " + path + ")";
  auto entries = ParseConfigFile(path);
  if (!entries.ok()) {
    return Status(entries.status().code(), entries.status().message() + in_file);
  }
  std::map<std::string, int> seen;  // option name -> line
  for (const ConfigEntry& e : *entries) {
    const std::string where = "config file line " + std::to_string(e.line) + ": ";
    const OptionSpec* spec = FindOption(DashName(e.key));
    if (spec == nullptr) return InvalidArgument(where + "unknown key '" + e.key + "'" + in_file);
    if (spec->flags & kOptNotInFile) {
      return InvalidArgument(where + "'" + e.key + "' cannot be set in a config file" + in_file);
    }
    const auto [it, fresh] = seen.emplace(spec->name, e.line);
    if (!fresh) {
      return InvalidArgument(where + "'" + e.key + "' is already set on line " +
                             std::to_string(it->second) + in_file);
    }
    Status st = SetFromConfig(o, *spec, e.value);
    if (!st.ok()) return InvalidArgument(where + st.message() + in_file);
    o.sources[spec->name] = kSourceConfigFile;
  }
  return Status::Ok();
}

// Greedy word wrap; every line starts with `prefix`.
std::string Wrap(std::string_view text, const std::string& prefix, std::size_t width) {
  std::string out;
  std::string line = prefix;
  bool line_has_word = false;
  std::istringstream words{std::string(text)};
  std::string word;
  while (words >> word) {
    if (line_has_word && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = prefix;
      line_has_word = false;
    }
    if (line_has_word) line += ' ';
    line += word;
    line_has_word = true;
  }
  if (line_has_word) out += line + "\n";
  return out;
}

std::vector<std::string> Groups() {
  std::vector<std::string> groups;
  for (const OptionSpec& s : Specs()) {
    if (std::find(groups.begin(), groups.end(), s.group) == groups.end())
      groups.emplace_back(s.group);
  }
  return groups;
}

std::string TypePlaceholder(const OptionSpec& spec) {
  if (spec.choices != nullptr) {
    std::string out;
    for (const std::string& c : SplitChoices(spec.choices)) {
      if (c.empty()) continue;
      if (!out.empty()) out += '|';
      out += c;
    }
    return out;
  }
  switch (spec.field.index()) {
    case 0:
      return "[=true|false]";
    case 1:
    case 2:
      return spec.byte_size() ? "BYTES" : "INT";
    case 3:
      return "SECONDS";
    case 4:
      return "STRING";
    default:
      return "LIST";
  }
}

EffectiveValue ValueOf(const ServeOptions& o, const OptionSpec& spec) {
  return std::visit(
      [&](auto member) -> EffectiveValue {
        using T = std::decay_t<decltype(o.*member)>;
        if constexpr (std::is_same_v<T, int>) {
          return static_cast<std::int64_t>(o.*member);
        } else {
          return o.*member;
        }
      },
      spec.field);
}

std::string Display(const EffectiveValue& v) {
  switch (v.index()) {
    case 0:
      return std::get<bool>(v) ? "true" : "false";
    case 1:
      return std::to_string(std::get<std::int64_t>(v));
    case 2:
      return TomlDouble(std::get<double>(v));
    case 3:
      return TomlQuote(std::get<std::string>(v));
    default: {
      std::string out = "[";
      for (const std::string& s : std::get<std::vector<std::string>>(v)) {
        if (out.size() > 1) out += ", ";
        out += TomlQuote(s);
      }
      return out + "]";
    }
  }
}

EffectiveValue Redacted(const EffectiveValue& v) {
  if (const auto* list = std::get_if<std::vector<std::string>>(&v)) {
    if (list->empty()) return v;  // "no keys" is not a secret, and says auth is off
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    if (s->empty()) return v;
  }
  return std::string("<redacted>");
}

}  // namespace

std::string EnvNameFor(std::string_view option_name) {
  std::string env = "GOLDFINCH_";
  for (const char c : option_name) {
    if (c == '-') {
      env += '_';
    } else if (c >= 'a' && c <= 'z') {
      env += static_cast<char>(c - 'a' + 'A');
    } else {
      env += c;
    }
  }
  return env;
}

StatusOr<ServeOptions> ParseServeOptions(const std::vector<std::string>& args,
                                         const std::map<std::string, std::string>& env) {
  ServeOptions o;
  std::vector<TextAssignment> cli;
  GF_RETURN_IF_ERROR(ScanCommandLine(args, o, cli));
  // --help and --print-config-template act without reading the environment or a config file,
  // so a broken config cannot hide the help.
  if (o.help_requested || o.print_config_template) return o;

  std::vector<TextAssignment> from_env;
  // GOLDFINCH_* variables that are read elsewhere, not options (so not "unknown").
  std::set<std::string> known_env = {"GOLDFINCH_MODEL_DIR", "GOLDFINCH_CACHE_FAULT_DELAY_MS"};
  for (const OptionSpec& spec : Specs()) {
    known_env.insert(spec.env);
    const auto it = env.find(spec.env);
    if (it == env.end() || it->second.empty()) continue;  // empty = unset
    from_env.push_back({&spec, it->second, "environment variable " + spec.env});
  }
  for (const auto& [name, value] : env) {
    if (name.rfind("GOLDFINCH_", 0) == 0 && known_env.count(name) == 0) {
      o.warnings.push_back("ignoring unknown environment variable " + name);
    }
  }

  // The config path itself follows the precedence: the command line's, else the environment's.
  std::string config_path;
  for (const auto* list : {&from_env, &cli}) {
    for (const TextAssignment& a : *list) {
      if (a.spec->name == "config") config_path = a.value;
    }
  }
  if (!config_path.empty()) GF_RETURN_IF_ERROR(ApplyConfigFile(config_path, o));
  GF_RETURN_IF_ERROR(ApplyTextAssignments(from_env, kSourceEnv, o));
  GF_RETURN_IF_ERROR(ApplyTextAssignments(cli, kSourceCli, o));
  return o;
}

StatusOr<ServeOptions> ParseServeOptions(int argc, char** argv,
                                         const std::map<std::string, std::string>& env) {
  std::vector<std::string> args;
  for (int i = 0; i < argc && argv != nullptr && argv[i] != nullptr; ++i)
    args.emplace_back(argv[i]);
  return ParseServeOptions(args, env);
}

std::map<std::string, std::string> GoldfinchEnvironment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (entry.rfind("GOLDFINCH_", 0) != 0) continue;
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

std::string HelpText() {
  const ServeOptions defaults;
  std::string out =
      "Usage: goldfinch serve [options]\n\n"
      "Serves a GoldFinch model over an OpenAI-compatible HTTP API.\n"
      "Every option can also be set by its GOLDFINCH_* environment variable or in a config file\n"
      "(--config); command line > environment > config file > defaults.\n\n"
      "General:\n"
      "  -h, --help\n"
      "      Show this help and exit.\n"
      "  --print-config-template\n"
      "      Print a config file listing every option with its default, and exit.\n";
  for (const std::string& group : Groups()) {
    out += "\n" + group + ":\n";
    for (const OptionSpec& spec : Specs()) {
      if (spec.group != group) continue;
      out += "  --" + spec.name + " " + TypePlaceholder(spec) + "\n";
      std::string details = spec.help;
      details += ". Default: " + Display(ValueOf(defaults, spec));
      if (std::holds_alternative<int ServeOptions::*>(spec.field) ||
          std::holds_alternative<std::int64_t ServeOptions::*>(spec.field) ||
          std::holds_alternative<double ServeOptions::*>(spec.field)) {
        details += "; range " + std::string((spec.flags & kOptMinExclusive) ? "(" : "[") +
                   FormatBound(spec, spec.lo) + ", " + FormatBound(spec, spec.hi) + "]";
      }
      if (spec.byte_size()) details += "; suffixes KiB, MiB, GiB, TiB, KB, MB, GB, TB";
      details += "; env " + spec.env + ".";
      out += Wrap(details, "      ", 100);
    }
  }
  return out;
}

std::string ConfigTemplate() {
  const ServeOptions defaults;
  std::string out =
      "# goldfinch serve configuration.\n"
      "#\n"
      "# Generated: goldfinch serve --print-config-template > config/goldfinch.toml\n"
      "# Use: goldfinch serve --config config/goldfinch.toml (or GOLDFINCH_CONFIG=PATH).\n"
      "# Precedence: command line > GOLDFINCH_* environment > this file > defaults.\n"
      "#\n"
      "# A TOML subset: key = value; \"strings\" (escapes \\\" \\\\ \\n \\t \\r), integers, "
      "floats,\n"
      "# true/false, [\"string\", \"arrays\"], # comments. Keys are the option names (- or _).\n"
      "# Unknown keys are errors. Every setting below is commented out and shows its default.\n";
  for (const std::string& group : Groups()) {
    std::string section;
    for (const OptionSpec& spec : Specs()) {
      if (spec.group != group || (spec.flags & kOptNotInFile)) continue;
      section += "\n" + Wrap(spec.help, "# ", 100);
      section += "# (env " + spec.env + ")\n";
      section += "#" + spec.key + " = " + Display(ValueOf(defaults, spec)) + "\n";
    }
    if (!section.empty()) out += "\n# ---- " + group + " ----\n" + section;
  }
  return out;
}

std::vector<EffectiveSetting> EffectiveConfig(const ServeOptions& options) {
  std::vector<EffectiveSetting> out;
  for (const OptionSpec& spec : Specs()) {
    EffectiveSetting s;
    s.name = spec.name;
    s.value = ValueOf(options, spec);
    if (spec.secret()) s.value = Redacted(s.value);
    s.display = Display(s.value);
    const auto it = options.sources.find(spec.name);
    s.source = it == options.sources.end() ? kSourceDefault : it->second;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> EffectiveConfigLines(const ServeOptions& options) {
  std::vector<std::string> lines;
  for (const EffectiveSetting& s : EffectiveConfig(options)) {
    lines.push_back(s.name + " = " + s.display + "  # " + s.source);
  }
  return lines;
}

}  // namespace gf::server
