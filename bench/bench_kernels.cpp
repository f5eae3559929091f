// Kernel bench for the elementwise / reduction / softmax tables (DESIGN.md 3, 7): every registered variant of
// every table, on arrays larger than the last-level cache, at 1 and 2 threads, through the same parallel drivers
// the ops use. Reports effective bandwidth (bytes each kernel must read + write, divided by the median time) and
// its ratio to memcpy measured in the same run with the same thread count, plus the speed-up over "scalar".
//
//   ./build/bench_kernels [--elements N] [--reps R] [--cpu-time]
//     defaults: 16Mi f32 / 8Mi f64 elements = 64 MiB per array, median of 3 runs (1 run for kernels slower than
//     0.5 s), wall clock (--cpu-time: the calling thread's CPU clock, see now_seconds)
//
// Tables benched with representative ops: binary (add), binary_row (add, bias of 1024), binary_col (mul, 1024
// columns), binary_scalar (mul), unary (relu, exp, tanh, gelu, silu; f64: relu, gelu), unary_backward (gelu, silu;
// f64: gelu), reduce_rows (sum, max over 4096 columns), reduce_cols (sum over rows, 1024 columns), softmax
// (softmax, log_softmax over 1024 columns; f64: softmax), softmax_backward (softmax).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "cpu/elementwise_parallel.h"
#include "cpu/parallel.h"
#include "engine/rng.h"
#include "ops/elementwise_tables.h"

namespace hm::bench {
namespace {

using cpu::BinaryOp;
using cpu::ReduceOp;
using cpu::SoftmaxOp;
using cpu::UnaryOp;

// Wall clock by default; --cpu-time uses the calling thread's CPU clock instead, which on a machine shared with
// other jobs approximates the uncontended time of a single-threaded run (it is not meaningful for 2 threads).
bool g_cpu_time = false;

double now_seconds() {
  if (g_cpu_time) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median of `reps` timed runs after one warm-up (page faults, caches, thread pool); a kernel whose warm-up takes
// over half a second (the scalar transcendental references) is timed once, to keep the whole bench short.
double median_seconds(int reps, const std::function<void()>& run) {
  const double w0 = now_seconds();
  run();
  if (now_seconds() - w0 > 0.5) reps = 1;
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_seconds();
    run();
    t.push_back(now_seconds() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Case {
  std::string table, op;
  double bytes;                                 // compulsory traffic: reads + writes
  std::function<void(const std::string&)> run;  // run the named variant once
  std::vector<std::string> variants;
};

template <class T>
struct Buffers {
  explicit Buffers(int64_t n) : n(n) {
    Generator gen(1);
    a = randn({n}, dtype_of<T>::value, gen);
    b = randn({n}, dtype_of<T>::value, gen);
    c = empty({n}, dtype_of<T>::value);
  }
  T* pa() const { return a.data<T>(); }
  T* pb() const { return b.data<T>(); }
  T* pc() const { return c.data<T>(); }
  int64_t n;
  Tensor a, b, c;
};

template <class T>
std::vector<Case> cases(const Buffers<T>& buf, const char* suffix) {
  const bool f32 = sizeof(T) == 4;
  const int64_t n = buf.n;
  const double e = double(sizeof(T));
  const int64_t cols = 1024, rows = n / cols, red_cols = 4096, red_rows = n / red_cols;
  std::vector<Case> out;
  const auto add = [&](std::string table, std::string op, double bytes, auto run, const KernelTableBase& t) {
    std::vector<std::string> variants = t.variants();  // scalar first: the others report their speed-up over it
    std::stable_partition(variants.begin(), variants.end(), [](const std::string& v) { return v == "scalar"; });
    out.push_back({table + suffix, op, bytes, run, variants});
  };
  {
    auto& t = binary_table<T>();
    add(
        "binary", "add", 3 * e * n,
        [&t, &buf, n](const std::string& v) {
          cpu::parallel_binary(t.get(v), BinaryOp::add, buf.pa(), buf.pb(), buf.pc(), n);
        },
        t);
  }
  {
    auto& t = binary_row_table<T>();
    add(
        "binary_row", "add", 2 * e * n,
        [&t, &buf, rows, cols](const std::string& v) {
          cpu::parallel_binary_row(t.get(v), BinaryOp::add, buf.pa(), buf.pb(), buf.pc(), rows, cols);
        },
        t);
  }
  {
    auto& t = binary_col_table<T>();
    add(
        "binary_col", "mul", 2 * e * n,
        [&t, &buf, rows, cols](const std::string& v) {
          cpu::parallel_binary_col(t.get(v), BinaryOp::mul, buf.pa(), buf.pb(), buf.pc(), rows, cols);
        },
        t);
  }
  {
    auto& t = binary_scalar_table<T>();
    add(
        "binary_scalar", "mul", 2 * e * n,
        [&t, &buf, n](const std::string& v) {
          cpu::parallel_binary_scalar(t.get(v), BinaryOp::mul, buf.pa(), T(1.5), buf.pc(), n);
        },
        t);
  }
  auto& ut = unary_table<T>();
  std::vector<UnaryOp> unary_ops = {UnaryOp::relu, UnaryOp::gelu};
  if (f32) unary_ops = {UnaryOp::relu, UnaryOp::exp, UnaryOp::tanh, UnaryOp::gelu, UnaryOp::silu};
  for (UnaryOp op : unary_ops)
    add(
        "unary", cpu::op_name(op), 2 * e * n,
        [&ut, &buf, n, op](const std::string& v) { cpu::parallel_unary(ut.get(v), op, buf.pa(), buf.pc(), n, T(0)); },
        ut);
  auto& ubt = unary_backward_table<T>();
  std::vector<UnaryOp> backward_ops = {UnaryOp::gelu};
  if (f32) backward_ops = {UnaryOp::gelu, UnaryOp::silu};
  for (UnaryOp op : backward_ops)
    add(
        "unary_backward", cpu::op_name(op), 3 * e * n,
        [&ubt, &buf, n, op](const std::string& v) {
          cpu::parallel_unary_backward<T>(ubt.get(v), op, buf.pa(), nullptr, buf.pb(), buf.pc(), n, T(0));
        },
        ubt);
  auto& rt = reduce_rows_table<T>();
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max})
    add(
        "reduce_rows", cpu::op_name(op), e * n,
        [&rt, &buf, red_rows, red_cols, op](const std::string& v) {
          cpu::parallel_reduce_rows(rt.get(v), op, buf.pa(), buf.pc(), red_rows, red_cols);
        },
        rt);
  {
    auto& t = reduce_cols_table<T>();
    add(
        "reduce_cols", "sum", e * n,
        [&t, &buf, rows, cols](const std::string& v) {
          cpu::parallel_reduce_cols(t.get(v), ReduceOp::sum, buf.pa(), buf.pc(), rows, cols);
        },
        t);
  }
  auto& st = softmax_table<T>();
  std::vector<SoftmaxOp> softmax_ops = {SoftmaxOp::softmax};
  if (f32) softmax_ops = {SoftmaxOp::softmax, SoftmaxOp::log_softmax};
  for (SoftmaxOp op : softmax_ops)
    add(
        "softmax", cpu::op_name(op), 2 * e * n,
        [&st, &buf, rows, cols, op](const std::string& v) {
          cpu::parallel_softmax(st.get(v), op, buf.pa(), buf.pc(), rows, cols);
        },
        st);
  {
    auto& t = softmax_backward_table<T>();
    add(
        "softmax_backward", "softmax", 3 * e * n,
        [&t, &buf, rows, cols](const std::string& v) {
          cpu::parallel_softmax_backward(t.get(v), SoftmaxOp::softmax, buf.pa(), buf.pb(), buf.pc(), rows, cols);
        },
        t);
  }
  return out;
}

// memcpy of one array into another through the same thread split as the kernels: bytes read + written per second.
double memcpy_bandwidth(const Tensor& src, const Tensor& dst, int reps) {
  const size_t bytes = size_t(src.numel()) * dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  const int64_t blocks = int64_t(bytes / 4096);
  const double t = median_seconds(reps, [&] {
    cpu::parallel_for(blocks, 4096, [&](int64_t b0, int64_t b1) {
      std::memcpy(d + b0 * 4096, s + b0 * 4096, size_t(b1 - b0) * 4096);
    });
  });
  return 2.0 * double(bytes) / t / 1e9;
}

int run(int argc, char** argv) {
  int64_t elements = int64_t(16) << 20;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--elements" && i + 1 < argc) {
      elements = std::atoll(argv[++i]);
    } else if (arg == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (arg == "--cpu-time") {
      g_cpu_time = true;
    } else {
      std::fprintf(stderr, "usage: bench_kernels [--elements N] [--reps R] [--cpu-time]\n");
      return 2;
    }
  }
  elements = std::max<int64_t>(elements / 4096 * 4096, 4096);  // whole rows of every benched layout
  std::printf("elements: %lld f32 (%.0f MiB per array), %lld f64; median of %d runs after a warm-up run; %s\n",
              (long long)elements, double(elements) * 4 / (1 << 20), (long long)(elements / 2), reps,
              g_cpu_time ? "thread CPU time" : "wall clock");
  const Buffers<float> f32(elements);
  const Buffers<double> f64(elements / 2);  // the same bytes per array
  std::vector<Case> all = cases(f32, "_f32");
  for (Case& c : cases(f64, "_f64")) all.push_back(std::move(c));

  std::printf("%-7s %-22s %-12s %-8s %9s %9s %11s\n", "threads", "table", "op", "variant", "GB/s", "x memcpy",
              "x scalar");
  for (int threads : {1, 2}) {
    cpu::set_num_threads(threads);
    const double copy = memcpy_bandwidth(f32.a, f32.c, reps);
    std::printf("%-7d %-22s %-12s %-8s %9.2f %9.2f %11s\n", threads, "memcpy", "-", "-", copy, 1.0, "-");
    for (const Case& c : all) {
      double scalar_seconds = 0;
      for (const std::string& v : c.variants) {
        const double s = median_seconds(reps, [&] { c.run(v); });
        if (v == "scalar") scalar_seconds = s;
        const double gbs = c.bytes / s / 1e9;
        char speedup[32] = "-";
        if (v != "scalar" && scalar_seconds > 0) std::snprintf(speedup, sizeof speedup, "%.2f", scalar_seconds / s);
        std::printf("%-7d %-22s %-12s %-8s %9.2f %9.2f %11s\n", threads, c.table.c_str(), c.op.c_str(), v.c_str(), gbs,
                    gbs / copy, speedup);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace hm::bench

int main(int argc, char** argv) { return hm::bench::run(argc, argv); }
