#!/usr/bin/env bash
# Build hubmamba with the CUDA backend for sm_90 (H100/H200) on this machine and pack what tools/gpu_check.sh runs
# on a GPU machine into .gpu/bundle.tar.xz: the binaries (hubmamba, hubmamba_tests, bench_cuda_*) plus the shared
# libraries they need that a bare CUDA image lacks (OpenBLAS, Highway, libsndfile, soxr, FFTW, libpng, libgomp ...).
# Why: the lent GPU machines have nvcc, cuBLAS, cuDNN and PyTorch but no package registry, so OpenBLAS/Highway/
# libsndfile cannot be installed there. cuBLAS/cuDNN/libcuda come from the GPU machine itself.
#   bash tools/gpu_bundle.sh            # -> .gpu/bundle.tar.xz (git-ignored via .git/info/exclude)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
build=build-gpu
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DHUBMAMBA_WERROR=ON -DHUBMAMBA_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 "${launcher[@]}" >/dev/null
targets=(hubmamba hubmamba_tests)
for src in bench/bench_cuda_*.cpp; do [ -e "$src" ] && targets+=("$(basename "$src" .cpp)"); done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

stage=$(mktemp -d)
mkdir -p "$stage/bin" "$stage/lib"
for t in "${targets[@]}"; do cp "$build/$t" "$stage/bin/"; done
# Shared libraries outside the C/C++ runtime and the CUDA toolkit (those the GPU machine has, newer or equal).
for t in "${targets[@]}"; do ldd "$build/$t"; done | awk '/=> \// {print $1, $3}' | sort -u |
  while read -r name path; do
    case "$name" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libgcc_s.so*|libstdc++.so*) continue ;;
      libcuda.so*|libcublas*|libcudnn*|libcudart*|libnvrtc*|libcufft*|libcurand*) continue ;;
    esac
    cp -L "$path" "$stage/lib/$name"
  done
mkdir -p .gpu
tar -C "$stage" -cJf .gpu/bundle.tar.xz bin lib
rm -rf "$stage"
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
ls -l .gpu/bundle.tar.xz
