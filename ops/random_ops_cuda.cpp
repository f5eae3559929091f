// CUDA variant of the dropout kernel tables (ops/random_ops.h). Compiled only with -DHUBMAMBA_CUDA=ON.
#include "cuda/random.h"
#include "ops/random_ops.h"

namespace hm {
namespace {

const bool kRegistered = (dropout_cuda_table<float>().add("cuda_philox", &cuda::dropout<float>, 10),
                          dropout_cuda_table<double>().add("cuda_philox", &cuda::dropout<double>, 10), true);

}  // namespace
}  // namespace hm
