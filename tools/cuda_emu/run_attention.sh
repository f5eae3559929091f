#!/usr/bin/env bash
# Runs the attention CUDA kernels (cuda/attention_*.cu) on the CPU under a thread-per-CUDA-thread emulation and
# compares every variant with cpu::scalar on small cases (f32, f64, bf16; masks, causal, Tq != Tk, dropout).
# For machines without a GPU: it checks indexing, masking, tiling and barrier placement, not GPU timing, memory
# model or launch limits beyond the shared-memory opt-in size. Needs build/libhubmamba_core.a (a normal build).
#   bash tools/cuda_emu/run_attention.sh [ref]     (ref: also the cuda_reference variant, ~4 min on 2 cores)
#
# The emulation (fake/): one std::thread per CUDA thread, blocks in sequence; __syncthreads, shuffles and every
# WMMA call are barriers over the block / warp (WMMA fragments hold the whole 16x16 tile in every lane); shared
# memory starts as 0xFF bytes (NaN) so unwritten reads show. transform.py rewrites `k<<<cfg>>>(args)` and the
# __shared__ declarations into calls the emulation provides.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags="-std=c++20 -O2 -pthread -w -I$here/fake -I$root"
for f in attention_reference attention_flash attention_flash_tc; do
  python3 "$here/transform.py" "$root/cuda/$f.cu" "$work/$f.cpp"
  g++ $flags -c "$work/$f.cpp" -o "$work/$f.o" &
done
g++ $flags -c "$here/attention_check.cpp" -o "$work/check.o"
wait
g++ -pthread -fopenmp "$work"/*.o "$root/build/libhubmamba_core.a" -L/usr/lib/x86_64-linux-gnu/openblas-openmp \
  -lopenblas -lhwy -lsndfile -lsoxr -lfftw3f -lpng -o "$work/check"
"$work/check" "$@"
