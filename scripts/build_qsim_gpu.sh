#!/usr/bin/env bash
# Build qsimcirq from source with qsim's CUDA kernels (qsimcirq.qsim_gpu, simulator.gpu_mode 0)
# and NVIDIA cuStateVec (qsimcirq.qsim_custatevec, simulator.gpu_mode 1), into the active Python
# environment, on a machine with the CUDA toolkit (nvcc). The PyPI wheels of qsimcirq are CPU-only.
#
# How qsim's build works (its setup.py and CMakeLists.txt): setup.py passes
# -DCMAKE_CUDA_COMPILER=nvcc when nvcc is on PATH, and CMake then adds the qsim_cuda module;
# the cuStateVec modules are added only when the environment variable CUQUANTUM_ROOT is set
# (headers in $CUQUANTUM_ROOT/include, libcustatevec in $CUQUANTUM_ROOT/lib). Extra CMake
# arguments come from the environment variable CMAKE_ARGS.
#
# cuStateVec comes from NVIDIA's PyPI package custatevec-cu<CUDA major> (e.g. custatevec-cu12).
# Its wheel ships cuquantum/lib/libcustatevec.so.1 only, so this script stages a CUQUANTUM_ROOT
# with the unversioned libcustatevec.so the linker needs, and links the module with an rpath to
# the wheel's lib folder (no LD_LIBRARY_PATH needed afterwards).
#
# Usage: scripts/build_qsim_gpu.sh [--source DIR | --version V] [--no-custatevec] [--dry-run]
#   --source DIR      build from a qsim git checkout (git clone https://github.com/quantumlib/qsim)
#   --version V       build the qsimcirq sdist V from PyPI (default: the installed qsimcirq's
#                     version if PyPI has its sdist, else $DEFAULT_VERSION below)
#   --no-custatevec   only qsim's own CUDA kernels (gpu_mode 0)
#   --dry-run         check the prerequisites and print the commands; change nothing
# Environment: PYTHON (default: python), CUDA_HOME (searched for bin/nvcc when nvcc is not on PATH).
# Network: PyPI (the sdist, custatevec-cu<N>, the build requirements) and github.com (qsim's CMake
# fetches pybind11) unless those are already available.
set -euo pipefail

DEFAULT_VERSION=0.22.0
PYTHON=${PYTHON:-python}
SOURCE="" VERSION="" CUSTATEVEC=1 DRY=0

die() { echo "build_qsim_gpu: error: $*" >&2; exit 1; }
say() { echo "build_qsim_gpu: $*"; }
run() { if [ "$DRY" = 1 ]; then echo "+ $*"; else "$@"; fi; }

while [ $# -gt 0 ]; do
  case "$1" in
    --source) [ $# -ge 2 ] || die "--source needs a folder"; SOURCE=$2; shift 2 ;;
    --version) [ $# -ge 2 ] || die "--version needs a version, e.g. 0.22.0"; VERSION=$2; shift 2 ;;
    --no-custatevec) CUSTATEVEC=0; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -z "$SOURCE" ] || [ -z "$VERSION" ] || die "give --source or --version, not both"

# ---------------------------------------------------------------- prerequisites
command -v "$PYTHON" >/dev/null || die "no $PYTHON on PATH (activate the project's environment or set PYTHON)"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null \
  || die "$PYTHON is older than 3.10 (qsimcirq needs >= 3.10)"
if ! command -v nvcc >/dev/null; then
  if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
    export PATH="$CUDA_HOME/bin:$PATH"
  else
    die "no nvcc: install the CUDA toolkit (12.x or 13.x) and put its bin/ on PATH or set CUDA_HOME; without nvcc qsim builds CPU-only modules (what the PyPI wheel already has)"
  fi
fi
CUDA_VERSION=$(nvcc --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
[ -n "$CUDA_VERSION" ] || die "could not read the CUDA release from 'nvcc --version'"
CUDA_MAJOR=${CUDA_VERSION%%.*}
say "nvcc $(command -v nvcc): CUDA $CUDA_VERSION"
command -v c++ >/dev/null || command -v g++ >/dev/null || die "no C++ compiler (c++ or g++): install one (e.g. apt-get install g++)"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  say "GPU: $(nvidia-smi -L | head -n 1)"
else
  say "warning: no GPU visible (nvidia-smi -L failed): the modules build, but qsimcirq.qsim_gpu and qsim_custatevec stay None until a GPU is visible"
fi

if [ -z "$SOURCE" ] && [ -z "$VERSION" ]; then
  VERSION=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("qsimcirq"))' 2>/dev/null || echo "$DEFAULT_VERSION")
  if ! "$PYTHON" -m pip download --no-deps --no-binary :all: -d "$(mktemp -d)" "qsimcirq==$VERSION" >/dev/null 2>&1; then
    say "PyPI has no sdist of qsimcirq $VERSION: building $DEFAULT_VERSION"
    VERSION=$DEFAULT_VERSION
  fi
fi
if [ -n "$SOURCE" ]; then
  [ -f "$SOURCE/setup.py" ] && [ -f "$SOURCE/CMakeLists.txt" ] || die "$SOURCE is not a qsim checkout (no setup.py/CMakeLists.txt)"
  TARGET=$SOURCE
else
  TARGET="qsimcirq==$VERSION"
fi

# ---------------------------------------------------------------- cuStateVec from PyPI
CMAKE_EXTRA=""
if [ "$CUSTATEVEC" = 1 ]; then
  PKG="custatevec-cu$CUDA_MAJOR"
  run "$PYTHON" -m pip install "$PKG"
  if [ "$DRY" = 1 ]; then
    say "(dry run) would stage CUQUANTUM_ROOT from $PKG's cuquantum/ folder"
  else
    WHEEL_DIR=$("$PYTHON" -c "import importlib.metadata as m; print(m.distribution('$PKG').locate_file('cuquantum'))")
    [ -f "$WHEEL_DIR/include/custatevec.h" ] || die "$PKG installed but $WHEEL_DIR/include/custatevec.h is missing"
    LIB=$(find "$WHEEL_DIR/lib" -maxdepth 1 -name 'libcustatevec.so*' | sort | head -n 1)
    [ -n "$LIB" ] || die "$PKG installed but no libcustatevec.so* in $WHEEL_DIR/lib"
    STAGE=$(mktemp -d)
    trap 'rm -rf "$STAGE"' EXIT
    mkdir -p "$STAGE/lib"
    ln -s "$WHEEL_DIR/include" "$STAGE/include"
    ln -s "$LIB" "$STAGE/lib/libcustatevec.so"
    export CUQUANTUM_ROOT=$STAGE
    CMAKE_EXTRA="-DCMAKE_MODULE_LINKER_FLAGS=-Wl,-rpath,$WHEEL_DIR/lib"
    say "CUQUANTUM_ROOT=$CUQUANTUM_ROOT ($LIB)"
  fi
fi

# ---------------------------------------------------------------- build and install
export CMAKE_ARGS="${CMAKE_ARGS:-} $CMAKE_EXTRA"
run "$PYTHON" -m pip install --force-reinstall --no-deps --no-binary qsimcirq -v "$TARGET"

if [ "$DRY" = 1 ]; then
  say "dry run: nothing built"
  exit 0
fi
"$PYTHON" - <<'EOF'
import qsimcirq
print("qsimcirq", qsimcirq.__version__)
print("qsimcirq.qsim_gpu =", qsimcirq.qsim_gpu)
print("qsimcirq.qsim_custatevec =", qsimcirq.qsim_custatevec)
EOF
