#include "train/cli.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace hm::cli {

Args& Args::flag(const std::string& name, const std::string& help) {
  order_.push_back(name);
  specs_[name] = {help, "", true, false};
  return *this;
}

Args& Args::option(const std::string& name, const std::string& default_value, const std::string& help) {
  order_.push_back(name);
  specs_[name] = {help, default_value, false, false};
  return *this;
}

Args& Args::required(const std::string& name, const std::string& help) {
  order_.push_back(name);
  specs_[name] = {help, "", false, true};
  return *this;
}

const Args::Spec& Args::spec(const std::string& name) const {
  auto it = specs_.find(name);
  check(it != specs_.end(), "hubmamba ", command_, ": internal error, option --", name, " was never declared");
  return it->second;
}

bool Args::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << help();
      return false;
    }
    if (a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = specs_.find(name);
    check(it != specs_.end(), "hubmamba ", command_, ": unknown option --", name, " (see hubmamba ", command_,
          " --help)");
    if (it->second.is_flag) {
      check(!has_value || value == "1" || value == "0" || value == "true" || value == "false", "hubmamba ",
            command_, ": flag --", name, " takes no value (got '", value, "')");
      const bool set = !has_value || value == "1" || value == "true";
      values_[name] = std::string(1, set ? '1' : '0');
      continue;
    }
    if (!has_value) {
      check(i + 1 < argc, "hubmamba ", command_, ": option --", name, " needs a value");
      value = argv[++i];
    }
    values_[name] = value;
  }
  for (const auto& [name, s] : specs_)
    check(!s.is_required || values_.count(name), "hubmamba ", command_, ": missing required option --", name,
          " (", s.help, ")");
  return true;
}

bool Args::given(const std::string& name) const {
  spec(name);
  return values_.count(name) != 0;
}

bool Args::on(const std::string& name) const {
  check(spec(name).is_flag, "hubmamba ", command_, ": --", name, " is not a flag");
  auto it = values_.find(name);
  return it != values_.end() && it->second == "1";
}

std::string Args::str(const std::string& name) const {
  const Spec& s = spec(name);
  auto it = values_.find(name);
  return it != values_.end() ? it->second : s.default_value;
}

int64_t Args::integer(const std::string& name) const {
  const std::string v = str(name);
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  check(!v.empty() && end && *end == '\0', "hubmamba ", command_, ": --", name, " expects an integer, got '", v,
        "'");
  return x;
}

double Args::real(const std::string& name) const {
  const std::string v = str(name);
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  check(!v.empty() && end && *end == '\0', "hubmamba ", command_, ": --", name, " expects a number, got '", v,
        "'");
  return x;
}

std::string Args::help() const {
  std::ostringstream os;
  os << "usage: hubmamba " << command_ << " [options]\n\n" << summary_ << "\n\noptions:\n";
  for (const auto& name : order_) {
    const Spec& s = specs_.at(name);
    // Built with a stream: GCC 12 raises a false -Wrestrict on chained std::string operator+.
    std::ostringstream left;
    left << "  --" << name << (s.is_flag ? "" : " VALUE");
    const size_t width = left.str().size();
    os << left.str() << std::string(width < 28 ? 28 - width : 1, ' ') << s.help;
    if (s.is_required) os << " (required)";
    else if (!s.is_flag && !s.default_value.empty()) os << " [default: " << s.default_value << "]";
    os << "\n";
  }
  os << "  --help                    this text\n";
  return os.str();
}

std::map<std::string, Command>& commands() {
  static std::map<std::string, Command> table;
  return table;
}

CommandRegistrar::CommandRegistrar(std::string name, std::string summary, std::function<int(int, char**)> run) {
  commands()[name] = Command{name, std::move(summary), std::move(run)};
}

}  // namespace hm::cli
