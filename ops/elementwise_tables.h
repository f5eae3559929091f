// Kernel tables of the elementwise / reduction / softmax families (DESIGN.md 3): one KernelTable per kernel
// signature and dtype, named "<kernel>_f32" / "<kernel>_f64", each with the "scalar" reference (priority 0) and
// the "highway" variant (priority 10). Select with --kernel unary_f32=scalar or HUBMAMBA_KERNELS.
// Used by ops/{elementwise,activation,reduce,softmax}.cpp, the conformance test and bench/bench_kernels.cpp.
#pragma once
#include "cpu/elementwise.h"
#include "ops/registry.h"

namespace hm {

template <class T>
KernelTable<cpu::BinaryFn<T>>& binary_table();
template <class T>
KernelTable<cpu::BinaryRowFn<T>>& binary_row_table();
template <class T>
KernelTable<cpu::BinaryColFn<T>>& binary_col_table();
template <class T>
KernelTable<cpu::BinaryScalarFn<T>>& binary_scalar_table();
template <class T>
KernelTable<cpu::UnaryFn<T>>& unary_table();
template <class T>
KernelTable<cpu::UnaryBackwardFn<T>>& unary_backward_table();
template <class T>
KernelTable<cpu::ReduceRowsFn<T>>& reduce_rows_table();
template <class T>
KernelTable<cpu::ReduceColsFn<T>>& reduce_cols_table();
template <class T>
KernelTable<cpu::SoftmaxFn<T>>& softmax_table();
template <class T>
KernelTable<cpu::SoftmaxBackwardFn<T>>& softmax_backward_table();

}  // namespace hm
