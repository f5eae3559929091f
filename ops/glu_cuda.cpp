// CUDA variant of the GLU kernel table (ops/glu.h). Compiled only with -DHUBMAMBA_CUDA=ON.
#include "cuda/glu.h"
#include "ops/glu.h"

namespace hm {
namespace {

const bool kRegistered =
    (glu_cuda_table<float>().add("cuda_simple", {&cuda::glu_forward<float>, &cuda::glu_backward<float>}, 10),
     glu_cuda_table<double>().add("cuda_simple", {&cuda::glu_forward<double>, &cuda::glu_backward<double>}, 10), true);

}  // namespace
}  // namespace hm
