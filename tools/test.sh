#!/usr/bin/env bash
# Build everything (warnings are errors, the CUDA backend compiles when nvcc is present) and run the whole test
# suite through CTest. This is the README's test command and all that .ci/run does.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
export PATH="$PATH:/usr/local/cuda/bin"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DHUBMAMBA_WERROR=ON
cmake --build build-test -j"$(nproc)"
ctest --test-dir build-test --output-on-failure -j"$(nproc)" --timeout 600
