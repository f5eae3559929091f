#include "cpu/parallel.h"

#include <omp.h>

#include <cstdlib>
#include <string>

#include "engine/error.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace hm::cpu {
namespace {
int g_threads = 0;
}

void set_num_threads(int n) {
  check(n >= 1, "threads: need at least 1, got ", n);
  g_threads = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int num_threads() { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

int init_threads_from_env() {
  if (const char* env = std::getenv("HUBMAMBA_THREADS"); env && *env) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    check(end && *end == '\0' && n >= 1 && n <= 4096, "HUBMAMBA_THREADS: expected a positive integer, got '",
          env, "'");
    set_num_threads(int(n));
  } else {
    set_num_threads(omp_get_max_threads());
  }
  return num_threads();
}

}  // namespace hm::cpu
