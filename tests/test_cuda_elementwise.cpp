// Conformance of the CUDA kernel variants of the elementwise / activation / reduction / softmax / dropout / GLU
// tables against the CPU scalar reference (DESIGN.md 6, tier 2): fresh random inputs, sizes 1, odd, and not
// multiples of the 16-byte packs, the block or the warp; NaN-poisoned device outputs so an unwritten element fails;
// pointers off 16-byte alignment for the vectorised variants. Covers (marker text for tests/test_coverage.cpp):
//   conformance: binary_f32@cuda       conformance: binary_f64@cuda
//   conformance: unary_f32@cuda        conformance: unary_f64@cuda
//   conformance: reduce_rows_f32@cuda  conformance: reduce_rows_f64@cuda
//   conformance: softmax_f32@cuda      conformance: softmax_f64@cuda
//   conformance: glu_forward_f32@cuda  conformance: glu_forward_f64@cuda
//   conformance: dropout_f32@cuda      conformance: dropout_f64@cuda
//   conformance: dropout_f32           conformance: dropout_f64       (the CPU dropout tables, no GPU needed)
// Tolerances are relative to max |reference|: 1e-5 for float (4e-5 for the sums over up to 1e5 elements, whose
// order differs from the reference's sequential double sum), 1e-12 for double. Dropout must be bit-identical.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/elementwise_scalar.h"
#include "engine/strided.h"
#include "ops/elementwise_tables.h"
#include "ops/glu.h"
#include "ops/random_ops.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

using cpu::BinaryOp;
using cpu::ReduceOp;
using cpu::SoftmaxOp;
using cpu::UnaryOp;

constexpr BinaryOp kBinaryOps[] = {BinaryOp::add, BinaryOp::sub,  BinaryOp::mul,
                                   BinaryOp::div, BinaryOp::rsub, BinaryOp::rdiv};
constexpr UnaryOp kUnaryOps[] = {UnaryOp::neg,  UnaryOp::exp,      UnaryOp::log,  UnaryOp::sqrt,
                                 UnaryOp::tanh, UnaryOp::sigmoid,  UnaryOp::relu, UnaryOp::gelu,
                                 UnaryOp::silu, UnaryOp::softplus, UnaryOp::pow};
// 1, odd, around the 4- and 2-element packs, around a 256-thread block, and one long enough for the grid-stride loop.
const std::vector<int64_t> kSizes = {1, 2, 3, 5, 7, 8, 9, 255, 257, 1001, 300007};

template <class T>
constexpr double kTol = sizeof(T) == 4 ? 1e-5 : 1e-12;
template <class T>
constexpr double kSumTol = sizeof(T) == 4 ? 4e-5 : 1e-12;
template <class T>
constexpr DType kDType = sizeof(T) == 4 ? DType::f32 : DType::f64;

template <class T>
std::vector<T> random_values(int64_t n, uint64_t seed, double scale = 1.0, bool positive = false) {
  Generator gen(seed);
  std::vector<T> v;
  for (double x : randn({n}, DType::f64, gen).to_vector<double>())
    v.push_back(T(positive ? std::abs(x) * scale + 0.05 : x * scale));
  return v;
}

// A device copy of v starting `shift` elements into its allocation (shift 1 breaks 16-byte alignment).
template <class T>
Tensor to_device(const std::vector<T>& v, int64_t shift = 0) {
  std::vector<T> padded(static_cast<size_t>(shift), T(0));
  padded.insert(padded.end(), v.begin(), v.end());
  const int64_t n = int64_t(padded.size());
  return from_vector(padded, {n}).to(Device::cuda()).slice(0, shift, n);
}

// A device buffer of n elements filled with NaN, `shift` elements into its allocation.
template <class T>
Tensor nan_device(int64_t n, int64_t shift = 0) {
  Tensor t = empty({n + shift}, kDType<T>, Device::cuda());
  strided::fill(t, std::numeric_limits<double>::quiet_NaN());
  return t.slice(0, shift, n + shift);
}

template <class T>
std::vector<T> host(const Tensor& t) {
  return t.to_vector<T>();
}

// got vs ref: NaN where ref is NaN, identical infinities, |got - ref| <= rtol * max|ref| elsewhere (a NaN left in
// the poisoned output fails).
template <class T>
::testing::AssertionResult close(const std::vector<T>& got, const std::vector<T>& ref, double rtol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << got.size() << " vs " << ref.size() << " elements";
  double scale = 0;
  for (T r : ref)
    if (std::isfinite(double(r))) scale = std::max(scale, std::abs(double(r)));
  const double tol = rtol * std::max(scale, 1e-300);
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = got[i], r = ref[i];
    const bool ok = std::isnan(r) ? std::isnan(g) : std::isinf(r) ? g == r : std::abs(g - r) <= tol;
    if (!ok)
      return ::testing::AssertionFailure() << "element " << i << " of " << ref.size() << ": got " << g << ", reference "
                                           << r << " (tolerance " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

// Every variant of a CUDA table (check_all_variants demands a "scalar" entry, which CUDA tables leave to the CPU
// table they are compared with).
template <class Fn, class F>
void for_each_cuda_variant(const KernelTable<Fn>& table, F&& f) {
  ASSERT_EQ(table.device(), DeviceType::cuda);
  const auto names = table.variants();
  ASSERT_FALSE(names.empty()) << table.name() << ": no CUDA variants registered";
  for (const std::string& v : names) {
    SCOPED_TRACE("kernel " + table.name() + "=" + v);
    f(table.get(v));
  }
}

template <class T>
void binary_conformance() {
  const auto ref_same = binary_table<T>().get("scalar");
  const auto ref_row = binary_row_table<T>().get("scalar");
  const auto ref_col = binary_col_table<T>().get("scalar");
  const auto ref_scalar = binary_scalar_table<T>().get("scalar");
  for_each_cuda_variant(binary_cuda_table<T>(), [&](const BinaryCudaFns<T>& k) {
    for (BinaryOp op : kBinaryOps) {
      SCOPED_TRACE(cpu::op_name(op));
      for (int64_t n : kSizes)
        for (int64_t shift : {0, 1}) {
          SCOPED_TRACE("n " + std::to_string(n) + " shift " + std::to_string(shift));
          const auto a = random_values<T>(n, 1 + n), b = random_values<T>(n, 2 + n, 1.0, true);
          std::vector<T> ref(static_cast<size_t>(n));
          ref_same(op, a.data(), b.data(), ref.data(), n);
          const Tensor da = to_device(a, shift), db = to_device(b), out = nan_device<T>(n, shift);
          k.same(op, da.device_data<T>(), db.device_data<T>(), out.device_data<T>(), n);
          EXPECT_TRUE(close(host<T>(out), ref, kTol<T>)) << "same";
          const T s = T(-1.75);
          ref_scalar(op, a.data(), s, ref.data(), n);
          const Tensor out_s = nan_device<T>(n, shift);
          k.scalar(op, da.device_data<T>(), s, out_s.device_data<T>(), n);
          EXPECT_TRUE(close(host<T>(out_s), ref, kTol<T>)) << "scalar";
        }
      for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 5}, {257, 33}, {1000, 769}}) {
        SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
        const auto a = random_values<T>(rows * cols, 3), br = random_values<T>(cols, 4, 1.0, true),
                   bc = random_values<T>(rows, 5, 1.0, true);
        std::vector<T> ref(static_cast<size_t>(rows * cols));
        const Tensor da = to_device(a), dbr = to_device(br), dbc = to_device(bc);
        ref_row(op, a.data(), br.data(), ref.data(), rows, cols);
        Tensor out = nan_device<T>(rows * cols);
        k.row(op, da.device_data<T>(), dbr.device_data<T>(), out.device_data<T>(), rows, cols);
        EXPECT_TRUE(close(host<T>(out), ref, kTol<T>)) << "row";
        ref_col(op, a.data(), bc.data(), ref.data(), rows, cols);
        out = nan_device<T>(rows * cols);
        k.col(op, da.device_data<T>(), dbc.device_data<T>(), out.device_data<T>(), rows, cols);
        EXPECT_TRUE(close(host<T>(out), ref, kTol<T>)) << "col";
      }
      // Strided broadcast: out (4, 6, 5, 3) from a (4, 1, 5, 3) stored transposed as (3, 5, 4) and b (6, 1, 3)
      // read through a flipped view (negative stride); the reference materialises both on the host.
      const Shape shape = {4, 6, 5, 3};
      const auto av = random_values<T>(60, 7), bv = random_values<T>(18, 8, 1.0, true);
      const Tensor ha = from_vector(av, {3, 5, 4}).permute({2, 1, 0}).unsqueeze(1);  // (4, 1, 5, 3)
      const Tensor hb = from_vector(bv, {6, 1, 3}).flip({0});                        // (6, 1, 3)
      const Tensor ea = ha.expand(shape).contiguous(), eb = hb.expand(shape).contiguous();
      std::vector<T> ref(120 * 3);
      ref_same(op, ea.data<T>(), eb.data<T>(), ref.data(), int64_t(ref.size()));
      const Tensor ga = from_vector(av, {3, 5, 4}).to(Device::cuda()).permute({2, 1, 0}).unsqueeze(1).expand(shape);
      const Tensor gb = from_vector(bv, {6, 1, 3}).to(Device::cuda()).flip({0}).expand(shape);
      const Tensor out = nan_device<T>(int64_t(ref.size()));
      k.broadcast(op, ga.device_data<T>(), gb.device_data<T>(), out.device_data<T>(), 4, shape.data(),
                  ga.strides().data(), gb.strides().data());
      EXPECT_TRUE(close(host<T>(out), ref, kTol<T>)) << "broadcast";
      // Zero dims: one element.
      const Tensor one = nan_device<T>(1);
      k.broadcast(op, ga.device_data<T>(), gb.device_data<T>(), one.device_data<T>(), 0, nullptr, nullptr, nullptr);
      std::vector<T> ref1(1);
      ref_same(op, ea.data<T>(), eb.data<T>(), ref1.data(), 1);
      EXPECT_TRUE(close(host<T>(one), ref1, kTol<T>)) << "broadcast of 0 dims";
    }
    // where
    for (int64_t n : kSizes) {
      const auto a = random_values<T>(n, 9), b = random_values<T>(n, 10);
      std::vector<uint8_t> c(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) c[size_t(i)] = uint8_t((i * 7) % 3 == 0 ? 1 + i % 5 : 0);
      std::vector<T> ref(static_cast<size_t>(n));
      cpu::scalar::where(c.data(), a.data(), b.data(), ref.data(), n);
      const Tensor dc = from_vector(c, {n}).to(Device::cuda()), da = to_device(a), db = to_device(b);
      const Tensor out = nan_device<T>(n);
      k.where(dc.device_data<uint8_t>(), da.device_data<T>(), db.device_data<T>(), out.device_data<T>(), n);
      EXPECT_EQ(host<T>(out), ref) << "where n " << n;
    }
  });
}

TEST(CudaElementwiseConformance, Binary) {
  HM_SKIP_WITHOUT_CUDA();
  binary_conformance<float>();
  binary_conformance<double>();
}

template <class T>
void unary_conformance() {
  const auto ref_fwd = unary_table<T>().get("scalar");
  const auto ref_bwd = unary_backward_table<T>().get("scalar");
  for_each_cuda_variant(unary_cuda_table<T>(), [&](const UnaryCudaFns<T>& k) {
    for (UnaryOp op : kUnaryOps) {
      SCOPED_TRACE(cpu::op_name(op));
      const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::pow;
      for (double param : op == UnaryOp::pow ? std::vector<double>{2, 3, -1.5, 0.5, 0} : std::vector<double>{0}) {
        for (int64_t n : kSizes)
          for (int64_t shift : {0, 1}) {
            SCOPED_TRACE("n " + std::to_string(n) + " shift " + std::to_string(shift) + " param " +
                         std::to_string(param));
            auto x = random_values<T>(n, 11 + n, positive ? 2.0 : 8.0, positive);
            if (!positive && n >= 9) {  // the softplus threshold, signed zeros, a NaN, both tails
              x[0] = T(20), x[1] = T(-0.0), x[2] = T(0), x[3] = std::numeric_limits<T>::quiet_NaN();
              x[4] = T(30), x[5] = T(-30), x[6] = T(20.5);
            }
            const auto gy = random_values<T>(n, 12);
            std::vector<T> y(static_cast<size_t>(n)), gx(static_cast<size_t>(n));
            ref_fwd(op, x.data(), y.data(), n, T(param));
            ref_bwd(op, x.data(), y.data(), gy.data(), gx.data(), n, T(param));
            const Tensor dx = to_device(x, shift), dy = to_device(y), dgy = to_device(gy);
            const Tensor out = nan_device<T>(n, shift), gout = nan_device<T>(n);
            k.forward(op, dx.device_data<T>(), out.device_data<T>(), n, T(param));
            EXPECT_TRUE(close(host<T>(out), y, kTol<T>)) << "forward";
            k.backward(op, dx.device_data<T>(), dy.device_data<T>(), dgy.device_data<T>(), gout.device_data<T>(), n,
                       T(param));
            // d tanh = 1 - y^2 (and sigmoid's y (1 - y)) cancel in the tails: a 1-ulp difference in how the two
            // sides round 1 - y*y is an absolute error of ~eps * |gy|, large against a tiny |gx|. Measure against
            // max(|gx|, |gy|) then.
            double gx_max = 0, gy_max = 0;
            for (T v : gx)
              if (std::isfinite(double(v))) gx_max = std::max(gx_max, std::abs(double(v)));
            for (T v : gy) gy_max = std::max(gy_max, std::abs(double(v)));
            const double widen = gx_max > 0 && gy_max > gx_max ? gy_max / gx_max : 1.0;
            EXPECT_TRUE(close(host<T>(gout), gx, kTol<T> * widen)) << "backward";
          }
      }
    }
  });
}

TEST(CudaElementwiseConformance, UnaryAndBackward) {
  HM_SKIP_WITHOUT_CUDA();
  unary_conformance<float>();
  unary_conformance<double>();
}

template <class T>
void reduce_conformance() {
  const auto ref_rows = reduce_rows_table<T>().get("scalar");
  const auto ref_cols = reduce_cols_table<T>().get("scalar");
  for_each_cuda_variant(reduce_cuda_table<T>(), [&](const ReduceCudaFns<T>& k) {
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::max}) {
      SCOPED_TRACE(cpu::op_name(op));
      // Rows: warp per row up to 1024 columns, block per row above.
      for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
               {1, 1}, {1, 7}, {5, 1}, {3, 33}, {1000, 100}, {7, 1024}, {7, 1025}, {3, 100003}, {1, 1000003}}) {
        SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
        auto x = random_values<T>(rows * cols, 21 + cols);
        if (op == ReduceOp::max && rows * cols > 50) x[37] = std::numeric_limits<T>::quiet_NaN();
        std::vector<T> ref(static_cast<size_t>(rows));
        ref_rows(op, x.data(), ref.data(), rows, cols);
        const Tensor dx = to_device(x), out = nan_device<T>(rows);
        k.rows(op, dx.device_data<T>(), out.device_data<T>(), rows, cols);
        EXPECT_TRUE(close(host<T>(out), ref, kSumTol<T>)) << "rows";
      }
      // Middle axis of (outer, rows, cols), outer beyond the 65535 grid.y limit once.
      for (auto [outer, rows, cols] : std::vector<std::array<int64_t, 3>>{
               {1, 1, 1}, {1, 5, 3}, {3, 7, 33}, {2, 1000, 65}, {70000, 3, 2}, {1, 100000, 5}}) {
        SCOPED_TRACE(std::to_string(outer) + "x" + std::to_string(rows) + "x" + std::to_string(cols));
        const auto x = random_values<T>(outer * rows * cols, 23);
        std::vector<T> ref(static_cast<size_t>(outer * cols));
        for (int64_t o = 0; o < outer; ++o)
          ref_cols(op, x.data() + o * rows * cols, ref.data() + o * cols, rows, cols, cols);
        const Tensor dx = to_device(x), out = nan_device<T>(outer * cols);
        k.cols(op, dx.device_data<T>(), out.device_data<T>(), outer, rows, cols);
        EXPECT_TRUE(close(host<T>(out), ref, kSumTol<T>)) << "cols";
      }
    }
    // max backward: ties (the first maximum gets the gradient) and a NaN maximum.
    for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {4, 5}, {33, 1024}, {3, 3000}}) {
      SCOPED_TRACE("max_backward " + std::to_string(rows) + "x" + std::to_string(cols));
      auto x = random_values<T>(rows * cols, 25);
      for (int64_t r = 0; r < rows && cols > 3; ++r) x[size_t(r * cols + 1)] = x[size_t(r * cols + cols - 1)] = T(9);
      if (cols > 3) x[size_t(2)] = std::numeric_limits<T>::quiet_NaN();
      std::vector<T> m(static_cast<size_t>(rows)), gx(static_cast<size_t>(rows * cols));
      const auto g = random_values<T>(rows, 26);
      cpu::scalar::reduce_rows(ReduceOp::max, x.data(), m.data(), rows, cols);
      cpu::scalar::max_backward_rows(x.data(), m.data(), g.data(), gx.data(), rows, cols);
      const Tensor dx = to_device(x), dm = to_device(m), dg = to_device(g), out = nan_device<T>(rows * cols);
      k.max_backward(dx.device_data<T>(), dm.device_data<T>(), dg.device_data<T>(), out.device_data<T>(), rows, cols);
      EXPECT_EQ(host<T>(out), gx);
    }
  });
}

TEST(CudaElementwiseConformance, ReduceAndMaxBackward) {
  HM_SKIP_WITHOUT_CUDA();
  reduce_conformance<float>();
  reduce_conformance<double>();
}

template <class T>
void softmax_conformance() {
  const auto ref_fwd = softmax_table<T>().get("scalar");
  const auto ref_bwd = softmax_backward_table<T>().get("scalar");
  constexpr T kInf = std::numeric_limits<T>::infinity();
  for_each_cuda_variant(softmax_cuda_table<T>(), [&](const SoftmaxCudaFns<T>& k) {
    for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
             {1, 1}, {4, 7}, {100, 33}, {9, 1024}, {9, 1025}, {5, 5000}, {20001, 3}}) {
      SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
      auto x = random_values<T>(rows * cols, 31 + cols, 4.0);
      if (rows >= 4 && cols >= 2) {  // an all -inf row, a +inf, a NaN
        for (int64_t c = 0; c < cols; ++c) x[size_t(cols + c)] = -kInf;
        x[size_t(2 * cols)] = kInf;
        x[size_t(3 * cols + 1)] = std::numeric_limits<T>::quiet_NaN();
      }
      const Tensor dx = to_device(x);
      for (SoftmaxOp op : {SoftmaxOp::softmax, SoftmaxOp::log_softmax, SoftmaxOp::logsumexp}) {
        SCOPED_TRACE(cpu::op_name(op));
        const int64_t ny = op == SoftmaxOp::logsumexp ? rows : rows * cols;
        std::vector<T> ref(static_cast<size_t>(ny));
        ref_fwd(op, x.data(), ref.data(), rows, cols);
        const Tensor out = nan_device<T>(ny);
        k.forward(op, dx.device_data<T>(), out.device_data<T>(), rows, cols);
        EXPECT_TRUE(close(host<T>(out), ref, kTol<T>)) << "forward";
      }
      const auto xf = random_values<T>(rows * cols, 32, 3.0), gy = random_values<T>(rows * cols, 33);
      for (SoftmaxOp op : {SoftmaxOp::softmax, SoftmaxOp::log_softmax}) {
        SCOPED_TRACE(std::string("backward ") + cpu::op_name(op));
        std::vector<T> y(static_cast<size_t>(rows * cols)), gx(static_cast<size_t>(rows * cols));
        ref_fwd(op, xf.data(), y.data(), rows, cols);
        ref_bwd(op, y.data(), gy.data(), gx.data(), rows, cols);
        const Tensor dy = to_device(y), dgy = to_device(gy), out = nan_device<T>(rows * cols);
        k.backward(op, dy.device_data<T>(), dgy.device_data<T>(), out.device_data<T>(), rows, cols);
        EXPECT_TRUE(close(host<T>(out), gx, kTol<T>)) << "backward";
      }
    }
  });
}

TEST(CudaElementwiseConformance, SoftmaxAndBackward) {
  HM_SKIP_WITHOUT_CUDA();
  softmax_conformance<float>();
  softmax_conformance<double>();
}

template <class T>
void glu_conformance() {
  const auto ref_fwd = glu_forward_table<T>().get("scalar");
  const auto ref_bwd = glu_backward_table<T>().get("scalar");
  for_each_cuda_variant(glu_cuda_table<T>(), [&](const GluCudaFns<T>& k) {
    for (auto [P, n] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 7}, {1000, 129}, {1, 100001}}) {
      SCOPED_TRACE(std::to_string(P) + " spans of " + std::to_string(n));
      const auto x = random_values<T>(P * 2 * n, 51, 10.0), dy = random_values<T>(P * n, 52);
      std::vector<T> y(static_cast<size_t>(P * n)), dx(static_cast<size_t>(P * 2 * n));
      for (int64_t p = 0; p < P; ++p) {
        const T* a = x.data() + p * 2 * n;
        ref_fwd(a, a + n, n, y.data() + p * n);
        ref_bwd(dy.data() + p * n, a, a + n, n, dx.data() + p * 2 * n, dx.data() + p * 2 * n + n);
      }
      const Tensor dxx = to_device(x), out = nan_device<T>(P * n), gout = nan_device<T>(P * 2 * n);
      k.forward(dxx.device_data<T>(), out.device_data<T>(), P, n);
      EXPECT_TRUE(close(host<T>(out), y, kTol<T>)) << "forward";
      const Tensor ddy = to_device(dy);
      k.backward(ddy.device_data<T>(), dxx.device_data<T>(), gout.device_data<T>(), P, n);
      EXPECT_TRUE(close(host<T>(gout), dx, kTol<T>)) << "backward";
    }
  });
}

TEST(CudaElementwiseConformance, Glu) {
  HM_SKIP_WITHOUT_CUDA();
  glu_conformance<float>();
  glu_conformance<double>();
}

// The CUDA dropout must draw the very mask of the CPU scalar kernel: same bits in y and mask.
template <class T>
void dropout_conformance() {
  const auto ref = dropout_table<T>().get("scalar");
  for_each_cuda_variant(dropout_cuda_table<T>(), [&](DropoutFn<T> k) {
    for (int64_t n : kSizes)
      for (double p : {0.1, 0.5, 0.9, 1.0}) {
        SCOPED_TRACE("n " + std::to_string(n) + " p " + std::to_string(p));
        const uint64_t key = 0x9E3779B97F4A7C15ull, counter = (uint64_t(1) << 32) - 3;  // counter crosses 2^32
        const auto x = random_values<T>(n, 61);
        std::vector<T> y(static_cast<size_t>(n)), mask(static_cast<size_t>(n));
        ref(x.data(), y.data(), mask.data(), n, p, key, counter);
        const Tensor dy = nan_device<T>(n), dmask = nan_device<T>(n);
        const Tensor dx = to_device(x);
        k(dx.device_data<T>(), dy.device_data<T>(), dmask.device_data<T>(), n, p, key, counter);
        const std::vector<T> gy = host<T>(dy), gm = host<T>(dmask);
        EXPECT_EQ(std::memcmp(gm.data(), mask.data(), size_t(n) * sizeof(T)), 0) << "mask differs";
        EXPECT_EQ(std::memcmp(gy.data(), y.data(), size_t(n) * sizeof(T)), 0) << "output differs";
      }
  });
}

TEST(CudaElementwiseConformance, DropoutMatchesCpuBitForBit) {
  HM_SKIP_WITHOUT_CUDA();
  dropout_conformance<float>();
  dropout_conformance<double>();
}

// The CPU dropout tables (no GPU needed): each variant keeps about 1 - p of the elements, scales them by 1 / (1 - p),
// writes y = x * mask, and draws a different mask for another counter.
template <class T>
void cpu_dropout_conformance() {
  check_all_variants(dropout_table<T>(), [](const std::string&, DropoutFn<T> fn) {
    const int64_t n = 40001;
    const double p = 0.3;
    const auto x = random_values<T>(n, 71);
    std::vector<T> y(static_cast<size_t>(n)), mask(static_cast<size_t>(n)), mask2(static_cast<size_t>(n));
    fn(x.data(), y.data(), mask.data(), n, p, 5, 0);
    fn(x.data(), y.data(), mask2.data(), n, p, 5, uint64_t(n));
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(mask[size_t(i)] == T(0) || mask[size_t(i)] == T(1.0 / (1.0 - p))) << i;
      kept += mask[size_t(i)] != T(0);
    }
    fn(x.data(), y.data(), mask.data(), n, p, 5, 0);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[size_t(i)], x[size_t(i)] * mask[size_t(i)]) << i;
    EXPECT_NEAR(double(kept) / double(n), 1 - p, 0.01);  // binomial sd 0.0023
    EXPECT_NE(mask, mask2);
  });
}

TEST(DropoutConformance, CpuTables) {
  cpu_dropout_conformance<float>();
  cpu_dropout_conformance<double>();
}

// Runs everywhere: the CUDA tables exist (listed by `hubmamba kernels`), on the CUDA device, named "<op>@cuda";
// a CUDA build registers their variants.
TEST(CudaElementwiseTables, Registered) {
  std::vector<std::string> names;
  for (KernelTableBase* t : kernel_tables())
    if (t->device() == DeviceType::cuda) names.push_back(t->name());
  for (const char* want : {"binary_f32@cuda", "binary_f64@cuda", "unary_f32@cuda", "unary_f64@cuda",
                           "reduce_rows_f32@cuda", "reduce_rows_f64@cuda", "softmax_f32@cuda", "softmax_f64@cuda",
                           "glu_forward_f32@cuda", "glu_forward_f64@cuda", "dropout_f32@cuda", "dropout_f64@cuda"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want << " is not registered";
#if HUBMAMBA_WITH_CUDA
  EXPECT_EQ(binary_cuda_table<float>().variants(), (std::vector<std::string>{"cuda_simple", "cuda_vec"}));
  EXPECT_EQ(unary_cuda_table<double>().variants(), (std::vector<std::string>{"cuda_simple", "cuda_vec"}));
  EXPECT_EQ(reduce_cuda_table<float>().selected(), "cuda_tree");
  EXPECT_EQ(softmax_cuda_table<float>().selected(), "cuda_rows");
  EXPECT_EQ(glu_cuda_table<double>().selected(), "cuda_simple");
  EXPECT_EQ(dropout_cuda_table<float>().selected(), "cuda_philox");
  // --kernel binary_f32=scalar picks the CPU reference and leaves the CUDA table on its default; =cuda_simple the
  // simple CUDA kernel.
  set_kernel_overrides("binary_f32=scalar");
  EXPECT_EQ(binary_table<float>().selected(), "scalar");
  EXPECT_EQ(binary_cuda_table<float>().selected(), "cuda_vec");
  set_kernel_overrides("binary_f32=cuda_simple");
  EXPECT_EQ(binary_cuda_table<float>().selected(), "cuda_simple");
  clear_kernel_overrides();
#endif
}

}  // namespace
}  // namespace hm::test
