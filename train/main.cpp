// hubmamba: one binary, many subcommands (DESIGN.md 5). Global options come before the subcommand:
//   hubmamba [--threads N] [--kernel op=variant,...] SUBCOMMAND [options]
// Errors from anywhere below become one line on stderr and exit code 1.
#include <cstring>
#include <iostream>
#include <string>

#include "cpu/parallel.h"
#include "ops/registry.h"
#include "train/cli.h"

namespace {

void print_usage() {
  std::cout << "hubmamba - HuBERT / Mamba-HuBERT speech pipeline on a from-scratch C++ tensor engine\n\n"
               "usage: hubmamba [--threads N] [--kernel op=variant,...] COMMAND [options]\n\n"
               "global options:\n"
               "  --threads N                 CPU threads for kernels and BLAS (also HUBMAMBA_THREADS)\n"
               "  --kernel op=variant,...     choose kernel variants (also HUBMAMBA_KERNELS); see `hubmamba kernels`\n\n"
               "commands:\n";
  for (const auto& [name, cmd] : hm::cli::commands()) {
    const size_t width = name.size() + 2;
    std::cout << "  " << name << std::string(width < 30 ? 30 - width : 1, ' ') << cmd.summary << "\n";
  }
  std::cout << "\n`hubmamba COMMAND --help` describes each command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    hm::cpu::init_threads_from_env();
    int i = 1;
    for (; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--threads" || a == "--kernel") {
        hm::check(i + 1 < argc, "hubmamba: ", a, " needs a value");
        const std::string v = argv[++i];
        if (a == "--threads") {
          char* end = nullptr;
          const long n = std::strtol(v.c_str(), &end, 10);
          hm::check(end && *end == '\0' && n >= 1, "hubmamba: --threads expects a positive integer, got '", v, "'");
          hm::cpu::set_num_threads(int(n));
        } else {
          hm::set_kernel_overrides(v);
        }
      } else if (a == "--help" || a == "-h") {
        print_usage();
        return 0;
      } else {
        break;
      }
    }
    if (i >= argc) {
      print_usage();
      return 0;
    }
    const std::string name = argv[i];
    auto it = hm::cli::commands().find(name);
    if (it == hm::cli::commands().end()) {
      std::cerr << "hubmamba: unknown command '" << name << "' (see hubmamba --help)\n";
      return 2;
    }
    return it->second.run(argc - i, argv + i);
  } catch (const std::exception& e) {
    std::cerr << "hubmamba: error: " << e.what() << "\n";
    return 1;
  }
}
