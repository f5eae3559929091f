#include "ops/elementwise_tables.h"

#include "cpu/elementwise_highway.h"
#include "cpu/elementwise_scalar.h"

namespace hm {
namespace {

// A table with its two variants, built on first use (function-local static, so registration order between
// translation units does not matter).
template <class Fn>
struct Filled {
  Filled(const char* name, Fn scalar, Fn highway) : table(name) {
    table.add("scalar", scalar, 0);
    table.add("highway", highway, 10);
  }
  KernelTable<Fn> table;
};

}  // namespace

template <>
KernelTable<cpu::BinaryFn<float>>& binary_table<float>() {
  static Filled<cpu::BinaryFn<float>> t("binary_f32", cpu::scalar::binary<float>, cpu::highway::binary_f32);
  return t.table;
}
template <>
KernelTable<cpu::BinaryFn<double>>& binary_table<double>() {
  static Filled<cpu::BinaryFn<double>> t("binary_f64", cpu::scalar::binary<double>, cpu::highway::binary_f64);
  return t.table;
}
template <>
KernelTable<cpu::BinaryRowFn<float>>& binary_row_table<float>() {
  static Filled<cpu::BinaryRowFn<float>> t("binary_row_f32", cpu::scalar::binary_row<float>,
                                           cpu::highway::binary_row_f32);
  return t.table;
}
template <>
KernelTable<cpu::BinaryRowFn<double>>& binary_row_table<double>() {
  static Filled<cpu::BinaryRowFn<double>> t("binary_row_f64", cpu::scalar::binary_row<double>,
                                            cpu::highway::binary_row_f64);
  return t.table;
}
template <>
KernelTable<cpu::BinaryColFn<float>>& binary_col_table<float>() {
  static Filled<cpu::BinaryColFn<float>> t("binary_col_f32", cpu::scalar::binary_col<float>,
                                           cpu::highway::binary_col_f32);
  return t.table;
}
template <>
KernelTable<cpu::BinaryColFn<double>>& binary_col_table<double>() {
  static Filled<cpu::BinaryColFn<double>> t("binary_col_f64", cpu::scalar::binary_col<double>,
                                            cpu::highway::binary_col_f64);
  return t.table;
}
template <>
KernelTable<cpu::BinaryScalarFn<float>>& binary_scalar_table<float>() {
  static Filled<cpu::BinaryScalarFn<float>> t("binary_scalar_f32", cpu::scalar::binary_scalar<float>,
                                              cpu::highway::binary_scalar_f32);
  return t.table;
}
template <>
KernelTable<cpu::BinaryScalarFn<double>>& binary_scalar_table<double>() {
  static Filled<cpu::BinaryScalarFn<double>> t("binary_scalar_f64", cpu::scalar::binary_scalar<double>,
                                               cpu::highway::binary_scalar_f64);
  return t.table;
}
template <>
KernelTable<cpu::UnaryFn<float>>& unary_table<float>() {
  static Filled<cpu::UnaryFn<float>> t("unary_f32", cpu::scalar::unary<float>, cpu::highway::unary_f32);
  return t.table;
}
template <>
KernelTable<cpu::UnaryFn<double>>& unary_table<double>() {
  static Filled<cpu::UnaryFn<double>> t("unary_f64", cpu::scalar::unary<double>, cpu::highway::unary_f64);
  return t.table;
}
template <>
KernelTable<cpu::UnaryBackwardFn<float>>& unary_backward_table<float>() {
  static Filled<cpu::UnaryBackwardFn<float>> t("unary_backward_f32", cpu::scalar::unary_backward<float>,
                                               cpu::highway::unary_backward_f32);
  return t.table;
}
template <>
KernelTable<cpu::UnaryBackwardFn<double>>& unary_backward_table<double>() {
  static Filled<cpu::UnaryBackwardFn<double>> t("unary_backward_f64", cpu::scalar::unary_backward<double>,
                                                cpu::highway::unary_backward_f64);
  return t.table;
}
template <>
KernelTable<cpu::ReduceRowsFn<float>>& reduce_rows_table<float>() {
  static Filled<cpu::ReduceRowsFn<float>> t("reduce_rows_f32", cpu::scalar::reduce_rows<float>,
                                            cpu::highway::reduce_rows_f32);
  return t.table;
}
template <>
KernelTable<cpu::ReduceRowsFn<double>>& reduce_rows_table<double>() {
  static Filled<cpu::ReduceRowsFn<double>> t("reduce_rows_f64", cpu::scalar::reduce_rows<double>,
                                             cpu::highway::reduce_rows_f64);
  return t.table;
}
template <>
KernelTable<cpu::ReduceColsFn<float>>& reduce_cols_table<float>() {
  static Filled<cpu::ReduceColsFn<float>> t("reduce_cols_f32", cpu::scalar::reduce_cols<float>,
                                            cpu::highway::reduce_cols_f32);
  return t.table;
}
template <>
KernelTable<cpu::ReduceColsFn<double>>& reduce_cols_table<double>() {
  static Filled<cpu::ReduceColsFn<double>> t("reduce_cols_f64", cpu::scalar::reduce_cols<double>,
                                             cpu::highway::reduce_cols_f64);
  return t.table;
}
template <>
KernelTable<cpu::SoftmaxFn<float>>& softmax_table<float>() {
  static Filled<cpu::SoftmaxFn<float>> t("softmax_f32", cpu::scalar::softmax<float>, cpu::highway::softmax_f32);
  return t.table;
}
template <>
KernelTable<cpu::SoftmaxFn<double>>& softmax_table<double>() {
  static Filled<cpu::SoftmaxFn<double>> t("softmax_f64", cpu::scalar::softmax<double>, cpu::highway::softmax_f64);
  return t.table;
}
template <>
KernelTable<cpu::SoftmaxBackwardFn<float>>& softmax_backward_table<float>() {
  static Filled<cpu::SoftmaxBackwardFn<float>> t("softmax_backward_f32", cpu::scalar::softmax_backward<float>,
                                                 cpu::highway::softmax_backward_f32);
  return t.table;
}
template <>
KernelTable<cpu::SoftmaxBackwardFn<double>>& softmax_backward_table<double>() {
  static Filled<cpu::SoftmaxBackwardFn<double>> t("softmax_backward_f64", cpu::scalar::softmax_backward<double>,
                                                  cpu::highway::softmax_backward_f64);
  return t.table;
}

template <>
KernelTable<BinaryCudaFns<float>>& binary_cuda_table<float>() {
  static KernelTable<BinaryCudaFns<float>> t("binary_f32", DeviceType::cuda);
  return t;
}
template <>
KernelTable<BinaryCudaFns<double>>& binary_cuda_table<double>() {
  static KernelTable<BinaryCudaFns<double>> t("binary_f64", DeviceType::cuda);
  return t;
}
template <>
KernelTable<UnaryCudaFns<float>>& unary_cuda_table<float>() {
  static KernelTable<UnaryCudaFns<float>> t("unary_f32", DeviceType::cuda);
  return t;
}
template <>
KernelTable<UnaryCudaFns<double>>& unary_cuda_table<double>() {
  static KernelTable<UnaryCudaFns<double>> t("unary_f64", DeviceType::cuda);
  return t;
}
template <>
KernelTable<ReduceCudaFns<float>>& reduce_cuda_table<float>() {
  static KernelTable<ReduceCudaFns<float>> t("reduce_rows_f32", DeviceType::cuda);
  return t;
}
template <>
KernelTable<ReduceCudaFns<double>>& reduce_cuda_table<double>() {
  static KernelTable<ReduceCudaFns<double>> t("reduce_rows_f64", DeviceType::cuda);
  return t;
}
template <>
KernelTable<SoftmaxCudaFns<float>>& softmax_cuda_table<float>() {
  static KernelTable<SoftmaxCudaFns<float>> t("softmax_f32", DeviceType::cuda);
  return t;
}
template <>
KernelTable<SoftmaxCudaFns<double>>& softmax_cuda_table<double>() {
  static KernelTable<SoftmaxCudaFns<double>> t("softmax_f64", DeviceType::cuda);
  return t;
}

namespace {
// Build every table at start-up so that `hubmamba kernels`, the coverage test and the bench see all of them.
[[maybe_unused]] const bool kAllTables =
    (binary_table<float>(), binary_table<double>(), binary_row_table<float>(), binary_row_table<double>(),
     binary_col_table<float>(), binary_col_table<double>(), binary_scalar_table<float>(), binary_scalar_table<double>(),
     unary_table<float>(), unary_table<double>(), unary_backward_table<float>(), unary_backward_table<double>(),
     reduce_rows_table<float>(), reduce_rows_table<double>(), reduce_cols_table<float>(), reduce_cols_table<double>(),
     softmax_table<float>(), softmax_table<double>(), softmax_backward_table<float>(), softmax_backward_table<double>(),
     binary_cuda_table<float>(), binary_cuda_table<double>(), unary_cuda_table<float>(), unary_cuda_table<double>(),
     reduce_cuda_table<float>(), reduce_cuda_table<double>(), softmax_cuda_table<float>(), softmax_cuda_table<double>(),
     true);
}  // namespace

}  // namespace hm
