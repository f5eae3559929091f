// cuDNN convolutions (cuda/conv_cudnn.h): descriptors, the cached algorithm choice, and the three passes.
// The structure follows PyTorch's aten/src/ATen/native/cudnn/Conv_v7.cpp (cudnnGet*_v7 candidates filtered by
// status and math type, the math type of the chosen candidate set on the convolution descriptor before it runs).
#include <cudnn.h>

#include <array>
#include <atomic>
#include <climits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/conv_cudnn.h"
#include "cuda/runtime.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

std::atomic<bool> g_allow_tf32{false};

void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS)
    throw Error(cat("cuDNN ", what, " failed: ", cudnnGetErrorString(s), " (", int(s), ")"));
}

// One handle per (host thread, device), bound to the engine's stream on every use. Handles are never destroyed:
// a thread_local destructor would run at process exit, possibly after the CUDA context is gone.
cudnnHandle_t handle() {
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice (cuDNN handle)");
  thread_local std::map<int, cudnnHandle_t> handles;
  auto it = handles.find(dev);
  if (it == handles.end()) {
    cudnnHandle_t h = nullptr;
    check_cudnn(cudnnCreate(&h), "cudnnCreate");
    it = handles.emplace(dev, h).first;
  }
  check_cudnn(cudnnSetStream(it->second, stream()), "cudnnSetStream");
  return it->second;
}

int to_int(int64_t v, const char* what) {
  hm::check(v >= 0 && v <= INT_MAX, "cuda conv (cuDNN): ", what, " = ", v, " does not fit cuDNN's int descriptors");
  return static_cast<int>(v);
}

size_t elem_size(Precision p) { return p == Precision::f64 ? 8 : p == Precision::f32 ? 4 : 2; }

// ---- RAII descriptors -------------------------------------------------------------------------------------------

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(cudnnDataType_t type, int n, int c, int h, int w) {
    check_cudnn(cudnnCreateTensorDescriptor(&d), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, type, n, c, h, w), "cudnnSetTensor4dDescriptor");
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc(cudnnDataType_t type, int k, int c, int h, int w) {
    check_cudnn(cudnnCreateFilterDescriptor(&d), "cudnnCreateFilterDescriptor");
    check_cudnn(cudnnSetFilter4dDescriptor(d, type, CUDNN_TENSOR_NCHW, k, c, h, w), "cudnnSetFilter4dDescriptor");
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc() { check_cudnn(cudnnCreateConvolutionDescriptor(&d), "cudnnCreateConvolutionDescriptor"); }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

// A scratch buffer from the caching allocator, released when it goes out of scope. Every user is a call enqueued
// on the engine's one stream, so memory released here and reused by a later allocation is stream-ordered.
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Scratch(size_t n) : bytes(n) {
    if (n) p = scratch(n);
  }
  ~Scratch() {
    if (p) release(p, bytes);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// ---- The problem handed to cuDNN --------------------------------------------------------------------------------

// The convolution cuDNN sees: input (B, Cin, h, w) with symmetric padding (ph, pw). When the engine's padding is
// not symmetric, the input is a zero-padded copy (Hp, Wp) and ph = pw = 0.
struct Problem {
  Precision p;
  cudnnDataType_t data, compute;
  cudnnMathType_t math;  // requested; the chosen candidate's math type replaces it before a pass runs
  bool strict_f32;       // f32 without TF32: every candidate runs in CUDNN_FMA_MATH
  bool padded;           // input goes through conv_pad / conv_crop
  int64_t h, w;          // the input spatial size cuDNN sees (== H, W unless padded)
  int ph, pw;
};

bool symmetric_fits(int64_t in, int64_t pad, int64_t k, int64_t stride, int64_t dil, int64_t out) {
  const int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  return span >= 0 && span / stride + 1 == out;
}

Problem make_problem(const ConvGeom& g, Precision p) {
  Problem pr{};
  pr.p = p;
  pr.data = p == Precision::f64 ? CUDNN_DATA_DOUBLE : p == Precision::f32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_BFLOAT16;
  pr.compute = p == Precision::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;  // bf16 accumulates in f32
  pr.strict_f32 = p == Precision::f32 && !g_allow_tf32.load();
  pr.math = p == Precision::bf16 ? CUDNN_TENSOR_OP_MATH : pr.strict_f32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
  pr.padded = !(symmetric_fits(g.H, g.pad_h, g.KH, g.stride_h, g.dilation_h, g.Hout) &&
                symmetric_fits(g.W, g.pad_w, g.KW, g.stride_w, g.dilation_w, g.Wout));
  if (pr.padded) {
    // The smallest padded input that yields (Hout, Wout) with padding 0.
    pr.h = (g.Hout - 1) * g.stride_h + g.dilation_h * (g.KH - 1) + 1;
    pr.w = (g.Wout - 1) * g.stride_w + g.dilation_w * (g.KW - 1) + 1;
    pr.ph = pr.pw = 0;
  } else {
    pr.h = g.H, pr.w = g.W;
    pr.ph = to_int(g.pad_h, "pad_h"), pr.pw = to_int(g.pad_w, "pad_w");
  }
  return pr;
}

// The descriptors of one problem; y's dims are checked against cuDNN's own output-size formula.
struct Descs {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  Descs(const ConvGeom& g, const Problem& pr)
      : x(pr.data, to_int(g.B, "B"), to_int(g.Cin, "Cin"), to_int(pr.h, "H"), to_int(pr.w, "W")),
        y(pr.data, to_int(g.B, "B"), to_int(g.Cout, "Cout"), to_int(g.Hout, "Hout"), to_int(g.Wout, "Wout")),
        w(pr.data, to_int(g.Cout, "Cout"), to_int(g.cin_g(), "Cin/groups"), to_int(g.KH, "KH"), to_int(g.KW, "KW")) {
    check_cudnn(
        cudnnSetConvolution2dDescriptor(conv.d, pr.ph, pr.pw, to_int(g.stride_h, "stride_h"),
                                        to_int(g.stride_w, "stride_w"), to_int(g.dilation_h, "dilation_h"),
                                        to_int(g.dilation_w, "dilation_w"), CUDNN_CROSS_CORRELATION, pr.compute),
        "cudnnSetConvolution2dDescriptor");
    check_cudnn(cudnnSetConvolutionGroupCount(conv.d, to_int(g.groups, "groups")), "cudnnSetConvolutionGroupCount");
    check_cudnn(cudnnSetConvolutionMathType(conv.d, pr.math), "cudnnSetConvolutionMathType");
    int n = 0, c = 0, h = 0, w_ = 0;
    check_cudnn(cudnnGetConvolution2dForwardOutputDim(conv.d, x.d, w.d, &n, &c, &h, &w_),
                "cudnnGetConvolution2dForwardOutputDim");
    hm::check(n == g.B && c == g.Cout && h == g.Hout && w_ == g.Wout, "cuda conv (cuDNN): cuDNN computes output (", n,
              ", ", c, ", ", h, ", ", w_, ") but the op expects (", g.B, ", ", g.Cout, ", ", g.Hout, ", ", g.Wout, ")");
  }
};

// ---- The algorithm cache ----------------------------------------------------------------------------------------

enum class Pass : int { forward, backward_data, backward_filter };

using Key = std::array<int64_t, 21>;
struct Choice {
  int algo;
  cudnnMathType_t math;
};

std::mutex g_cache_mutex;
std::map<Key, Choice>& cache() {
  static std::map<Key, Choice> c;
  return c;
}

Key make_key(Pass pass, const ConvGeom& g, const Problem& pr) {
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice (cuDNN algorithm cache)");
  // clang-format off
  return {int64_t(pass), dev, int64_t(pr.data), int64_t(pr.math), g.B, g.Cin, pr.h, pr.w, g.Cout, g.KH, g.KW,
          g.Hout, g.Wout, pr.ph, pr.pw, g.stride_h, g.stride_w, g.dilation_h, g.dilation_w, g.groups,
          int64_t(pr.padded)};
  // clang-format on
}

// A status that means "this algorithm cannot do this problem" (try the next candidate), not a failure.
bool unsupported(cudnnStatus_t s) {
  return CUDNN_STATUS_CATEGORY(s) == CUDNN_STATUS_NOT_SUPPORTED || CUDNN_STATUS_CATEGORY(s) == CUDNN_STATUS_BAD_PARAM;
}

// Runs one pass with the cached algorithm, or on a cache miss tries the heuristic candidates best first and
// caches the first that runs. Perf: cudnnConvolution*AlgoPerf_t; candidates(): the _v7 list;
// workspace(algo, &bytes) and run(algo, ws, bytes) return cudnnStatus_t.
template <class Perf, class Candidates, class Workspace, class Run>
void run_pass(const char* name, const Key& key, const Problem& pr, cudnnConvolutionDescriptor_t conv,
              Candidates&& candidates, Workspace&& workspace, Run&& run) {
  auto attempt = [&](int algo, cudnnMathType_t math) -> cudnnStatus_t {
    check_cudnn(cudnnSetConvolutionMathType(conv, math), "cudnnSetConvolutionMathType");
    size_t bytes = 0;
    const cudnnStatus_t s = workspace(algo, &bytes);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    Scratch ws(bytes);
    return run(algo, ws.p, bytes);
  };
  {
    std::unique_lock<std::mutex> lock(g_cache_mutex);
    const auto it = cache().find(key);
    if (it != cache().end()) {
      const Choice c = it->second;
      lock.unlock();
      check_cudnn(attempt(c.algo, c.math), name);
      return;
    }
  }
  const std::vector<Perf> perfs = candidates();
  std::string tried;
  for (const Perf& perf : perfs) {
    if (perf.status != CUDNN_STATUS_SUCCESS) continue;
    // Exact f32 runs every candidate in FMA math (PyTorch asserts the heuristics return FMA there; forcing it
    // keeps TF32 out even if they did not: an algorithm that cannot do FMA math then reports "not supported").
    const cudnnMathType_t math = pr.strict_f32 ? CUDNN_FMA_MATH : perf.mathType;
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    try {
      s = attempt(int(perf.algo), math);
    } catch (const Error& e) {  // e.g. the workspace could not be allocated: try a leaner algorithm
      tried += cat(" algo ", int(perf.algo), ": ", e.what(), ";");
      continue;
    }
    if (s == CUDNN_STATUS_SUCCESS) {
      std::lock_guard<std::mutex> lock(g_cache_mutex);
      cache()[key] = Choice{int(perf.algo), math};
      return;
    }
    if (!unsupported(s)) check_cudnn(s, name);
    tried += cat(" algo ", int(perf.algo), ": ", cudnnGetErrorString(s), ";");
  }
  throw Error(cat("cuda conv (cuDNN): no algorithm runs ", name, " for this problem (", perfs.size(), " candidates;",
                  tried, ")"));
}

// alpha = 1, beta = 0 in the compute type's host scalar type (double for f64, float otherwise).
struct Scalars {
  float f1 = 1.f, f0 = 0.f;
  double d1 = 1.0, d0 = 0.0;
  const void* one(Precision p) const { return p == Precision::f64 ? static_cast<const void*>(&d1) : &f1; }
  const void* zero(Precision p) const { return p == Precision::f64 ? static_cast<const void*>(&d0) : &f0; }
};

// The input cuDNN reads: x itself, or its zero-padded copy (in `buf`).
const void* cudnn_input(const ConvGeom& g, const Problem& pr, const void* x, Scratch& buf) {
  if (!pr.padded) return x;
  conv_pad(pr.p, x, g.B * g.Cin, g.H, g.W, g.pad_h, g.pad_w, pr.h, pr.w, buf.p);
  return buf.p;
}

size_t padded_bytes(const ConvGeom& g, const Problem& pr) {
  return pr.padded ? size_t(g.B * g.Cin * pr.h * pr.w) * elem_size(pr.p) : 0;
}

}  // namespace

void set_conv_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool conv_allow_tf32() { return g_allow_tf32.load(); }

int64_t conv_cudnn_cached_algorithms() {
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  return int64_t(cache().size());
}

void conv_cudnn_forward(const ConvGeom& g, Precision p, const void* x, const void* w, const void* bias, void* y) {
  if (g.B == 0) return;
  const Problem pr = make_problem(g, p);
  Descs d(g, pr);
  cudnnHandle_t h = handle();
  Scratch xp_buf(padded_bytes(g, pr));  // (B, Cin, Hp, Wp) when padded
  const void* xin = cudnn_input(g, pr, x, xp_buf);
  const Scalars s;
  run_pass<cudnnConvolutionFwdAlgoPerf_t>(
      "cudnnConvolutionForward", make_key(Pass::forward, g, pr), pr, d.conv.d,
      [&] {
        std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
        int n = 0;
        check_cudnn(
            cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.d, d.w.d, d.conv.d, d.y.d, int(perf.size()), &n, perf.data()),
            "cudnnGetConvolutionForwardAlgorithm_v7");
        perf.resize(size_t(n));
        return perf;
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, d.x.d, d.w.d, d.conv.d, d.y.d,
                                                       cudnnConvolutionFwdAlgo_t(algo), bytes);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionForward(h, s.one(p), d.x.d, xin, d.w.d, w, d.conv.d, cudnnConvolutionFwdAlgo_t(algo), ws,
                                       bytes, s.zero(p), d.y.d, y);
      });
  if (bias) conv_bias_add(p, y, bias, g.B, g.Cout, g.Hout * g.Wout);
}

void conv_cudnn_backward_input(const ConvGeom& g, Precision p, const void* dy, const void* w, void* dx) {
  if (g.B == 0) return;
  const Problem pr = make_problem(g, p);
  Descs d(g, pr);
  cudnnHandle_t h = handle();
  Scratch dxp_buf(padded_bytes(g, pr));  // (B, Cin, Hp, Wp) gradient of the padded input
  void* dxin = pr.padded ? dxp_buf.p : dx;
  const Scalars s;
  run_pass<cudnnConvolutionBwdDataAlgoPerf_t>(
      "cudnnConvolutionBackwardData", make_key(Pass::backward_data, g, pr), pr, d.conv.d,
      [&] {
        std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
        int n = 0;
        check_cudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.d, d.y.d, d.conv.d, d.x.d, int(perf.size()), &n,
                                                                perf.data()),
                    "cudnnGetConvolutionBackwardDataAlgorithm_v7");
        perf.resize(size_t(n));
        return perf;
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                            cudnnConvolutionBwdDataAlgo_t(algo), bytes);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardData(h, s.one(p), d.w.d, w, d.y.d, dy, d.conv.d,
                                            cudnnConvolutionBwdDataAlgo_t(algo), ws, bytes, s.zero(p), d.x.d, dxin);
      });
  if (pr.padded) conv_crop(p, dxp_buf.p, g.B * g.Cin, pr.h, pr.w, g.pad_h, g.pad_w, g.H, g.W, dx);
}

void conv_cudnn_backward_weight(const ConvGeom& g, Precision p, const void* dy, const void* x, void* dw, void* db) {
  if (g.B == 0) return;
  const Problem pr = make_problem(g, p);
  Descs d(g, pr);
  cudnnHandle_t h = handle();
  Scratch xp_buf(padded_bytes(g, pr));  // (B, Cin, Hp, Wp)
  const void* xin = cudnn_input(g, pr, x, xp_buf);
  const Scalars s;
  run_pass<cudnnConvolutionBwdFilterAlgoPerf_t>(
      "cudnnConvolutionBackwardFilter", make_key(Pass::backward_filter, g, pr), pr, d.conv.d,
      [&] {
        std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
        int n = 0;
        check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.d, d.y.d, d.conv.d, d.w.d, int(perf.size()),
                                                                  &n, perf.data()),
                    "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
        perf.resize(size_t(n));
        return perf;
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.d, d.y.d, d.conv.d, d.w.d,
                                                              cudnnConvolutionBwdFilterAlgo_t(algo), bytes);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardFilter(h, s.one(p), d.x.d, xin, d.y.d, dy, d.conv.d,
                                              cudnnConvolutionBwdFilterAlgo_t(algo), ws, bytes, s.zero(p), d.w.d, dw);
      });
  if (db) conv_bias_grad(p, dy, g.B, g.Cout, g.Hout * g.Wout, db);
}

}  // namespace hm::cuda
