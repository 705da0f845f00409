#!/usr/bin/env bash
# One-shot accelerator measurement of ilflow's MD (benchmarks/gpu_suite.py), for a fresh GPU machine:
#   bash benchmarks/gpu_suite.sh [--quick] [--budget-s 420] [--out FILE] [--model DIR] [--parts md,replicas,...]
# Installs what is missing, then measures within the budget (default 7 minutes) and writes one JSON file.
# Python: $PYTHON, else .venv/bin/python (made by `make install` or `pip install -e .[cuda]`), else python3.
# Offline machines (no package index): ilflow's dependencies missing there travel as wheels in .whl/, fetched
# beforehand on a connected machine with `bash benchmarks/gpu_suite.sh --download-wheels`; they are installed
# into /tmp/ilflow-site and ilflow itself runs from src/.
# --quick: a CPU smoke run in seconds (the test suite runs it so that the script keeps working).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
# ilflow's run-time dependencies that an accelerator image with JAX usually lacks (pinned to what CI tests)
wheels=(ase pydantic pydantic-core annotated-types typing-inspection)
if [ "${1:-}" = "--download-wheels" ]; then
    pins=()
    for w in "${wheels[@]}"; do pins+=("$w==$("$python" -m pip show "$w" | sed -n 's/^Version: //p')"); done
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${pins[@]}"
    ls .whl
    exit 0
fi
export PYTHONPATH="$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
if ! "$python" -c "import ase, pydantic, ilflow" 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$python" -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target /tmp/ilflow-site .whl/*.whl
        export PYTHONPATH="/tmp/ilflow-site:$PYTHONPATH"
    else
        "$python" -m pip install --quiet -e ".[cuda]"
    fi
fi
[ "${1:-}" = "--quick" ] && export JAX_PLATFORMS=cpu
"$python" -c "import jax; print('JAX', jax.__version__, 'on', jax.devices())"
exec "$python" benchmarks/gpu_suite.py "$@"
