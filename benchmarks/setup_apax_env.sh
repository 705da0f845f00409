#!/usr/bin/env bash
# Apax 0.14 (the study's code) in the benchmarks' own environment; ilflow never depends on it.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv-apax/bin/python ]; then
    python3 -m venv .venv-apax
    .venv-apax/bin/pip install --quiet --upgrade pip
    .venv-apax/bin/pip install --quiet "apax==0.14.0"
fi
.venv-apax/bin/python -c "import apax, jax; print('apax', __import__('importlib.metadata').metadata.version('apax'), 'jax', jax.__version__)"
