// `hubmamba selfcheck`: fit a 2-layer tanh MLP student to a fixed random teacher of the same shape, from seeded
// data, with full-batch SGD. Everything runs through the real engine: hm::linear (GEMM kernels, tape), backward()
// and .grad(); the update is written by hand under NoGradGuard on raw pointers.
//
// tanh and the MSE loss are small local differentiable ops here (forward loop + record() with a hand-written
// backward) because the elementwise/reduction family is built in parallel; once merged, selfcheck_tanh and
// selfcheck_mse switch to hm::tanh and hm::mean(square(pred - target)) and this file loses them.
#include "train/cmd_selfcheck.h"

#include <cmath>
#include <iomanip>
#include <iostream>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "ops/linear.h"
#include "train/cli.h"

namespace hm::cli {
namespace {

// y = tanh(x); d/dx = 1 - y^2 (saved context: y only). Float32, any shape.
Tensor selfcheck_tanh(const Tensor& x_in) {
  const Tensor x = x_in.contiguous();
  Tensor y = empty_like(x);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) py[i] = std::tanh(px[i]);
  record("selfcheck_tanh", {x_in}, {y}, [y](const std::vector<Tensor>& g, const std::vector<bool>&) {
    const Tensor go = g[0].contiguous();
    Tensor gx = empty_like(y);
    const float *pg = go.data<float>(), *pyy = y.data<float>();
    float* pgx = gx.data<float>();
    for (int64_t i = 0; i < y.numel(); ++i) pgx[i] = pg[i] * (1.0f - pyy[i] * pyy[i]);
    return std::vector<Tensor>{gx};
  });
  return y;
}

// loss = mean((pred - target)^2) over all elements; d/dpred = 2 (pred - target) / n. target is a constant.
Tensor selfcheck_mse(const Tensor& pred_in, const Tensor& target) {
  const Tensor pred = pred_in.contiguous();
  check(pred.shape() == target.shape(), "selfcheck_mse: ", pred.shape(), " vs ", target.shape());
  const int64_t n = pred.numel();
  const float *pp = pred.data<float>(), *pt = target.data<float>();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(pp[i] - pt[i]) * double(pp[i] - pt[i]);
  Tensor loss = scalar_tensor(sum / double(n));
  record("selfcheck_mse", {pred_in}, {loss}, [pred, target, n](const std::vector<Tensor>& g, const std::vector<bool>&) {
    const float scale = float(2.0 * g[0].item() / double(n));
    Tensor gp = empty_like(pred);
    const float *p = pred.data<float>(), *t = target.data<float>();
    float* out = gp.data<float>();
    for (int64_t i = 0; i < n; ++i) out[i] = scale * (p[i] - t[i]);
    return std::vector<Tensor>{gp};
  });
  return loss;
}

// A Linear layer's parameters, initialised N(0, 1/fan_in) with zero bias.
struct Layer {
  Tensor w, b;  // (out, in), (out,)
  Layer(int64_t in, int64_t out, Generator& gen) : w(randn({out, in}, DType::f32, gen)), b(zeros({out})) {
    float* p = w.data<float>();
    for (int64_t i = 0; i < w.numel(); ++i) p[i] /= float(std::sqrt(double(in)));
    w.requires_grad_(true);
    b.requires_grad_(true);
  }
};

Tensor mlp(const Layer& l1, const Layer& l2, const Tensor& x) {
  return linear(selfcheck_tanh(linear(x, l1.w, l1.b)), l2.w, l2.b);  // (n, out)
}

void sgd_step(const Tensor& p, double lr) {
  NoGradGuard no_grad;
  const Tensor g = p.grad().contiguous();
  float* pp = p.data<float>();
  const float* pg = g.data<float>();
  for (int64_t i = 0; i < p.numel(); ++i) pp[i] -= float(lr) * pg[i];
}

}  // namespace

SelfcheckResult run_selfcheck(const SelfcheckOptions& opt, std::ostream* log) {
  check(opt.steps >= 1 && opt.samples >= 1 && opt.in >= 1 && opt.hidden >= 1 && opt.out >= 1,
        "selfcheck: steps, samples and layer sizes must be positive");
  Generator gen(opt.seed);
  const Tensor x = randn({opt.samples, opt.in}, DType::f32, gen);  // (n, in)
  // The teacher has the student's architecture, so the target is exactly reachable.
  const Layer t1(opt.in, opt.hidden, gen), t2(opt.hidden, opt.out, gen);
  Tensor target;
  {
    NoGradGuard no_grad;
    target = mlp(t1, t2, x);  // (n, out)
  }
  Layer l1(opt.in, opt.hidden, gen), l2(opt.hidden, opt.out, gen);

  SelfcheckResult r;
  for (int64_t step = 0; step <= opt.steps; ++step) {
    for (Tensor* p : {&l1.w, &l1.b, &l2.w, &l2.b}) p->zero_grad();
    const Tensor loss = selfcheck_mse(mlp(l1, l2, x), target);
    r.losses.push_back(loss.item());
    if (log && opt.print_every > 0 && (step % opt.print_every == 0 || step == opt.steps))
      *log << "step " << std::setw(5) << step << "  loss " << std::setprecision(6) << r.losses.back() << "\n";
    if (step == opt.steps) break;
    loss.backward();
    for (const Tensor* p : {&l1.w, &l1.b, &l2.w, &l2.b}) sgd_step(*p, opt.lr);
  }
  r.passed = std::isfinite(r.losses.back()) && r.losses.back() * 10 <= r.losses.front();
  return r;
}

namespace {

int run_selfcheck_cmd(int argc, char** argv) {
  Args args("selfcheck", "Train a tiny MLP with SGD on a seeded toy regression; fail unless the loss falls 10x.");
  args.option("steps", "300", "SGD steps")
      .option("lr", "0.2", "learning rate")
      .option("seed", "0", "seed for data and initialisation")
      .option("print-every", "25", "print the loss every N steps (0: only the summary)");
  if (!args.parse(argc, argv)) return 0;
  SelfcheckOptions opt;
  opt.steps = args.integer("steps");
  opt.lr = args.real("lr");
  opt.seed = uint64_t(args.integer("seed"));
  opt.print_every = args.integer("print-every");
  const SelfcheckResult r = run_selfcheck(opt, &std::cout);
  const double ratio = r.losses.front() / r.losses.back();
  std::cout << "selfcheck: loss " << r.losses.front() << " -> " << r.losses.back() << " (" << std::setprecision(3)
            << ratio << "x lower; need >= 10x): " << (r.passed ? "PASS" : "FAIL") << "\n";
  return r.passed ? 0 : 1;
}

const CommandRegistrar reg("selfcheck", "train a tiny MLP end to end and check that the loss falls 10x",
                           run_selfcheck_cmd);

}  // namespace
}  // namespace hm::cli
