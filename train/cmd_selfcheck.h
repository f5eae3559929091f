// `hubmamba selfcheck`: train a tiny 2-layer MLP end to end (linear -> tanh -> linear, MSE, plain SGD) and fail
// unless the loss falls at least tenfold. Exercises the tape, linear's forward/backward and the GEMM kernels in
// one short run; also callable from the tests.
#pragma once
#include <cstdint>
#include <ostream>
#include <vector>

namespace hm::cli {

struct SelfcheckOptions {
  int64_t steps = 300;       // full-batch SGD steps
  int64_t print_every = 25;  // progress line every N steps; 0 = silent
  double lr = 0.2;           // SGD learning rate
  uint64_t seed = 0;         // data, teacher and student initialisation
  int64_t samples = 256, in = 8, hidden = 32, out = 2;
};

struct SelfcheckResult {
  std::vector<double> losses;  // steps + 1 values: the loss before each update and after the last one
  bool passed = false;         // last loss at least 10x below the first
};

SelfcheckResult run_selfcheck(const SelfcheckOptions& opt, std::ostream* log = nullptr);

}  // namespace hm::cli
