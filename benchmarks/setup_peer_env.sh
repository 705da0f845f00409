#!/usr/bin/env bash
# The peers of the benchmarks, each in its own environment; ilflow never depends on them.
#   bash benchmarks/setup_peer_env.sh apax    # Apax 0.14 (the study's code)     -> benchmarks/.venv-apax
#   bash benchmarks/setup_peer_env.sh torch   # torch 2.13.0 CPU + torch-dftd    -> benchmarks/.venv-torch
set -euo pipefail
cd "$(dirname "$0")"
case "${1:-}" in
    apax)  packages=("apax==0.14.0");                          check="import apax, jax; print('apax ok, jax', jax.__version__)" ;;
    torch) packages=("torch==2.13.0" "torch-dftd==0.5.3");     check="import torch, torch_dftd; print('torch', torch.__version__, 'torch-dftd', torch_dftd.__version__)" ;;
    *) echo "usage: $0 apax|torch" >&2; exit 2 ;;
esac
venv=".venv-$1"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    for package in "${packages[@]}"; do "$venv/bin/pip" install --quiet "$package"; done  # torch first: its CPU build
fi
"$venv/bin/python" -c "$check"
