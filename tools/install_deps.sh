#!/usr/bin/env bash
# Install the Debian packages hubmamba needs to build, test and run the demo. Idempotent and quiet when
# everything is already there (no apt-get update in that case), so the README commands stay fast on re-runs.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git
  libhwy-dev libopenblas-dev libopenblas-openmp-dev   # SIMD kernels, GEMM (OpenMP build of OpenBLAS)
  libgtest-dev googletest libbenchmark-dev
  libsndfile1-dev libsoxr-dev libfftw3-dev libpng-dev   # audio I/O, resampling, FFT, plots
  espeak-ng flite sox                    # synthetic speech corpus (hubmamba synth)
  festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts   # more synth voices (kal, ked, slt)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
