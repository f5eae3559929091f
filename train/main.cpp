// hubmamba: one binary, many subcommands (DESIGN.md 5). Global options come before the subcommand:
//   hubmamba [--threads N] [--kernel op=variant,...] SUBCOMMAND [options]
// Errors from anywhere below become one line on stderr and exit code 1.
#include <unistd.h>

#include <cstdlib>
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

// libgomp reads OMP_WAIT_POLICY when it is loaded, before main. Its default lets idle OpenMP threads spin between
// parallel regions; on a 2-core machine with any other load that spin steals the cores from the thread doing the
// work: a tiny-transformer pretraining update took 2.56 s instead of 0.26 s with PASSIVE (bench/RESULTS.md,
// "OpenMP wait policy"). On an idle machine ACTIVE spinning is ~1.5x faster, so an explicit setting is kept.
void ensure_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run with the default policy
}

int main(int argc, char** argv) {
  ensure_passive_openmp_wait(argv);
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
