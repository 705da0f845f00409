#!/usr/bin/env bash
# torch 2.13.0 (CPU) + torch-dftd, the study's run-time D3, in the benchmarks' own environment.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv-torch/bin/python ]; then
    python3 -m venv .venv-torch
    .venv-torch/bin/pip install --quiet --upgrade pip
    .venv-torch/bin/pip install --quiet "torch==2.13.0"
    .venv-torch/bin/pip install --quiet "torch-dftd==0.5.3"
fi
.venv-torch/bin/python -c "import torch, torch_dftd; print('torch', torch.__version__, 'torch-dftd', torch_dftd.__version__)"
