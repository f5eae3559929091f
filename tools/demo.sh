#!/usr/bin/env bash
# Build hubmamba and run its main job (`hubmamba demo`). Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
export PATH="$PATH:/usr/local/cuda/bin"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target hubmamba
./build/hubmamba demo "$@"
