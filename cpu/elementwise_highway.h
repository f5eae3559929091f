// Highway variants ("highway", priority 10) of the elementwise / reduction / softmax kernels declared in
// cpu/elementwise.h. Each entry point dispatches at run time to the best SIMD target of the CPU (Highway's
// HWY_DYNAMIC_DISPATCH). Kernels process whole vectors; the last partial vector goes through a padded buffer
// and the same vector code, so every element's value is independent of where an array (or a thread's chunk of
// it) starts and ends.
//   elementwise (cpu/elementwise_highway.cpp): binary*, unary, unary_backward
//   reductions and softmax (cpu/reduce_highway.cpp): reduce_rows, reduce_cols, softmax, softmax_backward
#pragma once
#include <cstdint>

#include "cpu/elementwise.h"

namespace hm::cpu::highway {

void binary_f32(BinaryOp op, const float* a, const float* b, float* out, int64_t n);
void binary_f64(BinaryOp op, const double* a, const double* b, double* out, int64_t n);
void binary_row_f32(BinaryOp op, const float* a, const float* b, float* out, int64_t rows, int64_t cols);
void binary_row_f64(BinaryOp op, const double* a, const double* b, double* out, int64_t rows, int64_t cols);
void binary_col_f32(BinaryOp op, const float* a, const float* b, float* out, int64_t rows, int64_t cols);
void binary_col_f64(BinaryOp op, const double* a, const double* b, double* out, int64_t rows, int64_t cols);
void binary_scalar_f32(BinaryOp op, const float* a, float s, float* out, int64_t n);
void binary_scalar_f64(BinaryOp op, const double* a, double s, double* out, int64_t n);
void unary_f32(UnaryOp op, const float* x, float* y, int64_t n, float param);
void unary_f64(UnaryOp op, const double* x, double* y, int64_t n, double param);
void unary_backward_f32(UnaryOp op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float param);
void unary_backward_f64(UnaryOp op, const double* x, const double* y, const double* gy, double* gx, int64_t n,
                        double param);

// Reductions accumulate in the element type: a row sum in four vector accumulators (lanes summed at the end), a
// row max lane-wise with NaN propagation, a column reduction directly in `out`, one row at a time (so each column
// is combined in row order, like the scalar loop); softmax sums its exponentials in two vector accumulators.
void reduce_rows_f32(ReduceOp op, const float* x, float* out, int64_t rows, int64_t cols);
void reduce_rows_f64(ReduceOp op, const double* x, double* out, int64_t rows, int64_t cols);
void reduce_cols_f32(ReduceOp op, const float* x, float* out, int64_t rows, int64_t cols, int64_t ld);
void reduce_cols_f64(ReduceOp op, const double* x, double* out, int64_t rows, int64_t cols, int64_t ld);
void softmax_f32(SoftmaxOp op, const float* x, float* y, int64_t rows, int64_t cols);
void softmax_f64(SoftmaxOp op, const double* x, double* y, int64_t rows, int64_t cols);
void softmax_backward_f32(SoftmaxOp op, const float* y, const float* gy, float* gx, int64_t rows, int64_t cols);
void softmax_backward_f64(SoftmaxOp op, const double* y, const double* gy, double* gx, int64_t rows, int64_t cols);

}  // namespace hm::cpu::highway
