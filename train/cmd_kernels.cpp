// `hubmamba kernels`: list every kernel table, its variants and the one selected now.
#include <iostream>

#include "ops/registry.h"
#include "train/cli.h"

namespace hm::cli {
namespace {

int run_kernels(int argc, char** argv) {
  Args args("kernels", "List the registered kernel variants per op and which one is selected.");
  if (!args.parse(argc, argv)) return 0;
  for (KernelTableBase* t : kernel_tables()) {
    std::cout << t->name() << ":";
    const std::string sel = t->selected();
    for (const auto& v : t->variants()) std::cout << " " << v << (v == sel ? "*" : "");
    std::cout << "\n";
  }
  std::cout << "(* = selected; override with --kernel op=variant or HUBMAMBA_KERNELS)\n";
  return 0;
}

const CommandRegistrar reg("kernels", "list kernel variants per op (and the selected one)", run_kernels);

}  // namespace
}  // namespace hm::cli
