#!/usr/bin/env bash
# The GPU check (issue 8): run on a machine with an NVIDIA GPU (the lent H100/H200, sm_90). It
#   1. gets the binaries: unpacks .gpu/bundle.tar.xz (made here by tools/gpu_bundle.sh, because the GPU machines
#      have no package registry for OpenBLAS/Highway/libsndfile), or builds with CUDA for sm_90 when no bundle is
#      present and the dependencies are installed (tools/install_deps.sh);
#   2. runs the whole test suite, CUDA tests included (they skip only without a GPU);
#   3. runs the GPU benchmarks and their PyTorch baselines (bench/bench_cuda_*, bench/pytorch_cuda_*.py);
#   4. prints a short table last. Logs go to $OUT (or ./gpu_check_out) when set.
#   bash tools/gpu_check.sh [--tests-only] [--gtest-filter PATTERN]
# Budget: under 8 minutes on an H100 (each step has its own timeout so one hang cannot eat the lease).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-$root/gpu_check_out}
mkdir -p "$out"
tests_only=0
filter='*'
while [ $# -gt 0 ]; do
  case "$1" in
    --tests-only) tests_only=1 ;;
    --gtest-filter) filter=$2; shift ;;
    *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
summary=$out/summary.txt
# Everything but the summary goes into one archive at the end (a lent GPU machine returns at most 8 files).
pack_logs() {
  local tmp
  tmp=$(mktemp)
  (cd "$out" && tar -czf "$tmp" --exclude=summary.txt . && find . -type f ! -name summary.txt -delete) && mv "$tmp" "$out/logs.tar.gz"
}
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
start=$(date +%s)

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
gpu_name=$(head -1 "$out/gpu.txt")
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1

# ---- binaries ----
if [ -f .gpu/bundle.tar.xz ]; then
  bin=/tmp/hubmamba_bundle
  rm -rf "$bin" && mkdir -p "$bin"
  tar -C "$bin" -xJf .gpu/bundle.tar.xz
  libdirs="$bin/lib"
  # cuBLAS and cuDNN: the toolkit's, else the ones PyTorch's wheels ship.
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && libdirs="$libdirs:$d"; done
  for mod in nvidia.cudnn nvidia.cublas nvidia.cu13 nvidia; do
    d=$(python3 -c "import $mod, os; print(os.path.dirname($mod.__file__ or next(iter($mod.__path__))))" 2>/dev/null) || continue
    for sub in lib lib64; do [ -d "$d/$sub" ] && libdirs="$libdirs:$d/$sub"; done
  done
  for d in $(python3 -c "import nvidia, os; p=next(iter(nvidia.__path__)); print(' '.join(os.path.join(p,x,'lib') for x in os.listdir(p)))" 2>/dev/null); do
    [ -d "$d" ] && libdirs="$libdirs:$d"
  done
  export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The tests find fixtures through the source path compiled into them (the bundle was built in /work/main).
  src_dir=$(strings "$bin/bin/hubmamba_tests" | grep -m1 -o '^/[^ ]*/tests/fixtures' | sed 's|/tests/fixtures$||')
  if [ -n "$src_dir" ] && [ ! -e "$src_dir" ]; then mkdir -p "$(dirname "$src_dir")" && ln -s "$root" "$src_dir"; fi
  bindir=$bin/bin
else
  echo "== no .gpu/bundle.tar.xz: building with CUDA for sm_90"
  export PATH="$PATH:/usr/local/cuda/bin"
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DHUBMAMBA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null &&
    cmake --build build-gpu -j"$(nproc)" 2>&1 | tail -5
  bindir=$root/build-gpu
fi
missing=$(ldd "$bindir/hubmamba_tests" 2>&1 | grep 'not found' || true)
[ -n "$missing" ] && { echo "missing libraries:"; echo "$missing"; }

# ---- tests ----
echo "== tests (gtest filter '$filter')"
export HUBMAMBA_THREADS=2 OMP_WAIT_POLICY=PASSIVE  # 6 suites at a time
# One process per test suite (6 at a time), each with its own timeout, so that a hung kernel costs one suite, not
# the run.
tdir=$(mktemp -d)
"$bindir/hubmamba_tests" --gtest_list_tests --gtest_filter="$filter" | grep -E '^[A-Za-z0-9_]+\.$' | tr -d '.' |
  xargs -P 6 -I{} sh -c 'timeout 120 "$0" --gtest_filter="{}.*:-*DISABLED*" >"$1/{}.log" 2>&1; echo "{} $?" >>"$1/rc.txt"' \
    "$bindir/hubmamba_tests" "$tdir"
cat "$tdir"/*.log >"$out/tests.log"
rc=0
while read -r suite code; do
  if [ "$code" -ne 0 ]; then
    rc=1
    echo "suite $suite exited $code$([ "$code" -eq 124 ] && echo ' (timed out)')" | tee -a "$out/tests.log"
  fi
done <"$tdir/rc.txt"
failed=$(grep -E '^\[  FAILED  \] [A-Za-z0-9_]+\.[A-Za-z0-9_/]+' "$out/tests.log" | awk '{print $4}' | sort -u)
[ -n "$failed" ] && { echo "failed tests:"; echo "$failed"; }
cuda_skipped=$(grep -c 'skipped: no GPU' "$out/tests.log" || true)
note "tests: exit $rc; $(grep -c '^\[       OK \]' "$out/tests.log") passed, $(echo -n "$failed" | grep -c .) failed, $(grep -E '^\[  SKIPPED \] [A-Za-z0-9_]+\.' "$out/tests.log" | awk '{print $4}' | sort -u | grep -c .) skipped"
[ -n "$failed" ] && note "failed: $(echo $failed)"
note "CUDA tests passed: $(grep -c '^\[       OK \] .*Cuda' "$out/tests.log"), skipped for lack of a GPU: $cuda_skipped (must be 0 on a GPU machine)"
[ "$tests_only" = 1 ] && { echo "== summary ($gpu_name, $(( $(date +%s) - start )) s)"; cat "$summary"; pack_logs; exit $rc; }

# ---- benchmarks (most important first; none starts after the deadline) ----
deadline=${GPU_CHECK_DEADLINE:-420}  # seconds since the start of this script
export HUBMAMBA_PYTHON=${HUBMAMBA_PYTHON:-$(command -v python3)}  # the GPU machine's PyTorch
bench() {  # bench NAME TIMEOUT COMMAND...   (GPU_CHECK_BENCHES="name ..." runs only those)
  local name=$1 limit=$2; shift 2
  if [ -n "${GPU_CHECK_BENCHES:-}" ] && ! echo " $GPU_CHECK_BENCHES " | grep -q " $name "; then return; fi
  local now=$(( $(date +%s) - start ))
  if [ "$now" -ge "$deadline" ]; then echo "-- $name: skipped (deadline ${deadline}s reached at ${now}s)" | tee -a "$summary"; return; fi
  echo "-- $name"
  PYTHONUNBUFFERED=1 timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "exit $rc" >>"$out/$name.log"
  tail -15 "$out/$name.log"
}
echo "== benchmarks"
bench bench_cuda_selective_scan 90 "$bindir/bench_cuda_selective_scan"
bench pytorch_cuda_selective_scan 120 python3 bench/pytorch_cuda_selective_scan.py
bench bench_cuda_attention 90 "$bindir/bench_cuda_attention"
bench bench_cuda_gemm 60 "$bindir/bench_cuda_gemm"
for m in base-conbimamba base-transformer; do
  bench "train_${m}_hubmamba" 120 "$bindir/hubmamba" bench --model "$m" --device cuda --precision bf16 --batch 8 --seconds 10 --steps 3 --warmup 1
  bench "train_${m}_pytorch" 150 python3 bench/pytorch_cuda_train_step.py --model "$m" --precision bf16 --batch 8 --seconds 10 --steps 3 --warmup 1
done
bench bench_cuda_conv 90 "$bindir/bench_cuda_conv" --torch
bench bench_cuda_normloss 90 "$bindir/bench_cuda_normloss"
bench bench_cuda_elementwise 90 "$bindir/bench_cuda_elementwise" --torch
if [ -f tools/gpu_table.py ]; then python3 tools/gpu_table.py "$out" "$gpu_name" | tee -a "$summary"; fi
echo "== summary ($gpu_name, $(( $(date +%s) - start )) s)"
cat "$summary"
pack_logs
exit $rc
