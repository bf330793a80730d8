#!/usr/bin/env bash
# Install sirenkit (editable) into the current Python environment.
#   bash install.sh           the library and the `sirenkit` command
#   bash install.sh test      ... and pytest + ruff
#   bash install.sh bench     ... and siren-pytorch, DeepXDE and zstandard, the peers the benchmarks compare against
#   bash install.sh ray       ... and Ray, to fit collections past one process (--workers, --ray-address)
# A torch that is already installed (CUDA or CPU) is kept. Without one, torch==2.13.0 is
# installed first; on this project's machines that resolves to a local CPU build, where a
# bare `pip install torch` would download a multi-GB CUDA build. Set SIRENKIT_TORCH to ask
# for another requirement (for example "torch==2.13.0+cpu" with a CPU index configured).
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
if ! "$python" -c "import torch" >/dev/null 2>&1; then
    "$python" -m pip install --quiet "${SIRENKIT_TORCH:-torch==2.13.0}"
fi
extras=""
[ $# -gt 0 ] && extras="[$(IFS=,; echo "$*")]"
"$python" -m pip install --quiet --editable ".${extras}"
"$python" -c "import torch, sirenkit; print(f'sirenkit {sirenkit.__version__} with torch {torch.__version__}')"
