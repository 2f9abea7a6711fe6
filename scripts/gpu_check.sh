#!/usr/bin/env bash
# The GPU verification in one go, on a CUDA machine, from the repository root with the project
# installed (README: On a GPU): the qsim GPU build, the `gpu` tests (torch simulator on CUDA vs
# cirq, qsim GPU vs CPU, a tiny-profile pipeline with QUANTUM_LLM_DEVICE=cuda), and the
# simulator benchmark. Everything it prints goes to OUT/log.txt, the benchmark's JSON to
# OUT/gpu_sim.json; copy the device name, date and results into docs/gpu.md.
#
# Usage: scripts/gpu_check.sh [OUT] [--skip-build]     (OUT defaults to gpu-check/)
set -euo pipefail

OUT=gpu-check BUILD=1
for arg in "$@"; do
  case "$arg" in
    --skip-build) BUILD=0 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu_check: error: unknown option $arg" >&2; exit 1 ;;
    *) OUT=$arg ;;
  esac
done
PYTHON=${PYTHON:-python}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git rev-parse --short HEAD 2>/dev/null || echo 'no git')"
command -v nvidia-smi >/dev/null || { echo "gpu_check: error: no nvidia-smi: this is not a CUDA machine" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
export QUANTUM_LLM_DEVICE=${QUANTUM_LLM_DEVICE:-cuda}
"$PYTHON" - <<'PY'
import json, torch
from quantum_llm.device import device_record
if not torch.cuda.is_available():
    raise SystemExit(f"gpu_check: error: torch {torch.__version__} sees no CUDA device (CUDA build: "
                     f"{torch.version.cuda or 'none'}): install a CUDA build of torch (README: On a GPU)")
print(json.dumps(device_record(), indent=1))
PY

if [ "$BUILD" = 1 ]; then
  echo "== qsim GPU build"
  PYTHON=$PYTHON scripts/build_qsim_gpu.sh
fi

status=0
echo "== gpu tests"
"$PYTHON" -m pytest -m gpu tests/gpu -v -rs || status=1
echo "== benchmark"
"$PYTHON" benchmarks/gpu_sim.py --out "$OUT/gpu_sim.json" || status=1
echo "== done (status $status): $OUT/log.txt, $OUT/gpu_sim.json"
exit $status
