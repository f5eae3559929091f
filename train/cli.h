// The `hubmamba` command line: a table of subcommands (each registered by its own file with a static
// CommandRegistrar) and a small option parser that generates --help and rejects unknown or malformed options
// with an error naming the flag.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/error.h"

namespace hm::cli {

class Args {
 public:
  Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

  // Declare options before parse(). Names are given without the leading "--".
  Args& flag(const std::string& name, const std::string& help);
  Args& option(const std::string& name, const std::string& default_value, const std::string& help);
  Args& required(const std::string& name, const std::string& help);  // option with no default

  // Parses "--name value", "--name=value" and bare flags. Returns false when --help was printed (caller exits 0).
  bool parse(int argc, char** argv);

  bool given(const std::string& name) const;  // set on the command line (not just defaulted)
  bool on(const std::string& flag_name) const;
  std::string str(const std::string& name) const;
  int64_t integer(const std::string& name) const;  // errors name the flag and the bad text
  double real(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  std::string help() const;

 private:
  struct Spec {
    std::string help, default_value;
    bool is_flag = false, is_required = false;
  };
  const Spec& spec(const std::string& name) const;
  std::string command_, summary_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

struct Command {
  std::string name, summary;
  std::function<int(int argc, char** argv)> run;  // argv[0] is the subcommand name
};

std::map<std::string, Command>& commands();
struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string summary, std::function<int(int, char**)> run);
};

}  // namespace hm::cli
