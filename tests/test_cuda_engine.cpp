// The CUDA device plumbing (engine/device.h, cuda/runtime.h, cuda/strided.cu): allocation and reuse by the caching
// allocator, host<->device copies, strided copies with dtype conversion (bf16 included), fill, gradient
// accumulation and broadcast-gradient reduction on the device, and the errors a CPU kernel or a CPU-only build
// gives for device tensors. Tests that need a GPU skip with "skipped: no GPU".
#include "engine/safetensors.h"
#include "engine/strided.h"
#include "ops/ops.h"
#include "tests/test_util.h"

#if HUBMAMBA_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace hm::test {
namespace {

Tensor random_f64(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, DType::f64, gen);
}

void expect_near_all(const Tensor& got, const Tensor& ref, double tol, const char* what) {
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  const std::vector<double> g = got.to_vector<double>(), r = ref.to_vector<double>();
  for (size_t i = 0; i < r.size(); ++i) EXPECT_NEAR(g[i], r[i], tol) << what << " [" << i << "]";
}

TEST(CudaEngine, DeviceNamesParse) {
  EXPECT_EQ(device_from_name("cpu"), Device::cpu());
  EXPECT_EQ(device_from_name("cuda"), Device::cuda(0));
  EXPECT_EQ(device_from_name("cuda:0"), Device::cuda(0));
  EXPECT_TRUE(throws_with([] { device_from_name("gpu"); }, "unknown device 'gpu'"));
  EXPECT_TRUE(throws_with([] { device_from_name("cuda:x"); }, "unknown device"));
}

TEST(CudaEngine, HostHalfConversionsRoundToNearestEven) {
  // 1 + 2^-8 is a bf16 tie between 1 and 1 + 2^-7: ties go to the even pattern (1).
  const Tensor x = from_doubles({1.0, 1.0 + 1.0 / 256, 1.0 + 3.0 / 256, -2.5, 65504.0, 1e-8}, {6}, DType::f32);
  EXPECT_EQ(x.to(DType::bf16).to(DType::f32).to_vector<double>(),
            (std::vector<double>{1.0, 1.0, 1.0 + 4.0 / 256, -2.5, 65536.0, double(bf16_to_float(float_to_bf16(1e-8f)))}));
  EXPECT_EQ(x.to(DType::f16).to_vector<double>()[4], 65504.0);
  // Strided half copies (both directions) keep the layout.
  const Tensor m = from_doubles({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  EXPECT_EQ(m.to(DType::bf16).transpose(0, 1).contiguous().to_vector<double>(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
}

TEST(CudaEngine, NoDeviceGivesAClearError) {
  if (device_available(DeviceType::cuda)) GTEST_SKIP() << "a GPU is present";
  EXPECT_TRUE(throws_with([] { empty({3}, DType::f32, Device::cuda()); }, "cuda:0"));
}

TEST(CudaEngine, RoundTripAndStridedCopies) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor x = random_f64({3, 5, 7}, 1);
  for (DType dt : {DType::f64, DType::f32, DType::i64, DType::i32}) {
    const Tensor host = mul(x, 10.0).to(dt);
    const Tensor dev = host.to(Device::cuda());
    EXPECT_TRUE(dev.is_cuda());
    EXPECT_EQ(dev.to_vector<double>(), host.to_vector<double>()) << dt;
    // Non-contiguous views copied on the device equal the same views on the host.
    const Tensor hv = host.permute({2, 0, 1}).slice(1, 1, 3).flip({0});
    const Tensor dv = dev.permute({2, 0, 1}).slice(1, 1, 3).flip({0});
    EXPECT_EQ(dv.contiguous().to_vector<double>(), hv.contiguous().to_vector<double>()) << dt;
    EXPECT_EQ(dv.cpu().to_vector<double>(), hv.to_vector<double>()) << dt;
  }
  // dtype conversion on the device, bf16 included (round to nearest even, like the CPU's checkpoint writer).
  const Tensor d32 = x.to(DType::f32).to(Device::cuda());
  const std::vector<double> back = d32.to(DType::bf16).to(DType::f32).to_vector<double>();
  const std::vector<double> ref = x.to_vector<double>();
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(back[i], ref[i], std::abs(ref[i]) * 4e-3 + 1e-30);
  // Host -> strided device destination.
  Tensor dst = zeros({7, 3, 5}, DType::f64, Device::cuda());
  strided::copy(dst.permute({1, 2, 0}), x);
  EXPECT_EQ(dst.permute({1, 2, 0}).to_vector<double>(), x.to_vector<double>());
}

TEST(CudaEngine, FillAddAndSumTo) {
  HM_SKIP_WITHOUT_CUDA();
  Tensor t = full({4, 6}, 2.5, DType::f32, Device::cuda());
  strided::fill(t.slice(1, 1, 5, 2), -1.0);  // strided destination
  Tensor ref = full({4, 6}, 2.5, DType::f32);
  strided::fill(ref.slice(1, 1, 5, 2), -1.0);
  EXPECT_EQ(t.to_vector<float>(), ref.to_vector<float>());
  EXPECT_EQ(zeros({0}, DType::f32, Device::cuda()).numel(), 0);

  const Tensor a = random_f64({5, 1, 9, 4}, 2), b = random_f64({5, 1, 9, 4}, 3);
  Tensor da = a.to(Device::cuda()).clone();
  strided::add_inplace(da.transpose(0, 2), b.to(Device::cuda()).transpose(0, 2));
  expect_near_all(da.cpu(), add(a, b), 1e-12, "add_inplace");

  for (const Shape& to : {Shape{9, 4}, Shape{5, 1, 1, 4}, Shape{1, 1, 9, 1}, Shape{}, Shape{4}}) {
    const Tensor got = strided::sum_to(a.to(Device::cuda()), to);
    EXPECT_TRUE(got.is_cuda());
    expect_near_all(got.cpu(), strided::sum_to(a, to), 1e-12, "sum_to");
  }
}

TEST(CudaEngine, AutogradAccumulatesOnTheDevice) {
  HM_SKIP_WITHOUT_CUDA();
  Tensor w = random_f64({3, 4}, 4).to(Device::cuda());
  w.requires_grad_(true);
  // The gradient of a slice lands in a device tensor; a second use (through a copy to the host, whose backward
  // crosses back to the device) accumulates into it.
  const Tensor y = w.slice(1, 1, 3);
  y.backward(ones(y.shape(), DType::f64, Device::cuda()));
  const Tensor z = w.to(Device::cpu());
  z.backward(ones(z.shape(), DType::f64));
  ASSERT_TRUE(w.grad().is_cuda());
  const std::vector<double> g = w.grad().to_vector<double>();
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(g[size_t(r * 4 + c)], (c == 1 || c == 2) ? 2.0 : 1.0);
}

TEST(CudaEngine, CpuKernelsRefuseDeviceTensors) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor d = ones({4}, DType::f32, Device::cuda());
  EXPECT_TRUE(throws_with([&] { d.data<float>(); }, "lives on cuda:0"));
  EXPECT_TRUE(throws_with([&] { d.raw_data(); }, "host memory was requested"));
}

#if HUBMAMBA_WITH_CUDA
TEST(CudaEngine, CachingAllocatorReusesBlocks) {
  HM_SKIP_WITHOUT_CUDA();
  cuda::synchronize();
  { Tensor warm = empty({1 << 20}, DType::f32, Device::cuda()); }
  const AllocatorStats before = cuda::allocator_stats();
  for (int i = 0; i < 10; ++i) {
    Tensor t = empty({1 << 20}, DType::f32, Device::cuda());
    strided::fill(t, double(i));
  }
  const AllocatorStats after = cuda::allocator_stats();
  EXPECT_EQ(after.os_allocations, before.os_allocations) << "steady state must not call cudaMalloc";
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_GE(after.peak_bytes, size_t(4) << 20);
}

TEST(CudaEngine, LaunchErrorsNameTheKernel) {
  HM_SKIP_WITHOUT_CUDA();
  EXPECT_TRUE(throws_with([] { cuda::check(cudaErrorInvalidValue, "my_kernel"); }, "CUDA error in my_kernel"));
}
#endif

}  // namespace
}  // namespace hm::test
