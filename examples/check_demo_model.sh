#!/usr/bin/env bash
# A check of a learned model as the study's hybrid: 20 ps of NVT (Nose-Hoover chain) at 353 K on the demo's
# 4-pair box with the model + D3(BJ) with GFN1-xTB's parameters over 20 Å added at run time (the demo's `hybrid`
# final model) and the paper's stop rule (max ensemble force std > 0.5 eV/Å), then 20 frames of that run labelled
# with the campaign's reference (dispersion-free GFN1-xTB in the demo) and the model's errors on them (the run-time
# D3 is the dispersion the labels lack, so these are also the hybrid's errors against GFN1-xTB with its D3, up to
# the D3 beyond 20 Å). The hybrid's 20 ps took 16 min on 2 shared cores (1.8-3.0 ns/day); when the stop fires, the
# 20 error frames need a second run without it, so a failing model costs up to twice that.
#   bash examples/check_demo_model.sh PROJECT_DIR [CAMPAIGN]     (PROJECT_DIR: where `ilflow learn` ran)
# Environment: ILFLOW (the ilflow command, default `ilflow`), PYTHON (the interpreter that imports ilflow, for the
# snippets below; default python3), DISPERSION (run-time D3 functional, default gfn1; `none` runs the model alone,
# a cheaper first filter, into check-353K-alone), D3_CUTOFF_A (default 20).
set -euo pipefail
project=${1:?usage: check_demo_model.sh PROJECT_DIR [CAMPAIGN]}
campaign=${2:-}
ilflow=${ILFLOW:-ilflow}
python=${PYTHON:-python3}
dispersion=${DISPERSION:-gfn1}
d3_cutoff=${D3_CUTOFF_A:-20}
model=$($python -c 'import sys; from ilflow.project import Project; print(Project(sys.argv[1]).final_model()[0])' "$project")
if [ "$dispersion" = none ]; then
    out="$project/check-353K-alone"
    d3=()
else
    out="$project/check-353K"
    d3=(--dispersion "$dispersion" --d3-cutoff-A "$d3_cutoff")
fi
echo "model: $model"
echo "run-time D3: ${d3[*]:-none}"
# start: the last frame of the classical initial data (4 pairs, 1.210 g/cm3)
$python - "$project" <<'PY'
import sys
from ase.io import read, write
write(f"{sys.argv[1]}/check-353K-start.extxyz", read(f"{sys.argv[1]}/initial/frames.extxyz", -1))
PY
run() {  # run NAME THRESHOLD
    $ilflow md --model "$model" --structure "$project/check-353K-start.extxyz" --ensemble nvt --temperature-K 353 \
        --timestep-fs 0.5 --steps 40000 --frame-every 2000 --max-uncertainty-eV-A "$2" --seed 353 "${d3[@]}" \
        -o "$out/$1"
}
run md 0.5
frames_of=md
if grep -q '"stop_reason": "uncertainty"' "$out/md/summary.json"; then
    echo "the stop fired (above); the 20 error frames come from the same run with the stop switched off"
    run md-no-stop 0
    frames_of=md-no-stop
fi
# the run's frames (every 1 ps), labelled with the reference, then the model's errors on them
$python - "$out/$frames_of" "$campaign" <<'PY'
import sys
from pathlib import Path
import h5py
from ase import Atoms
from ilflow.config import load_campaign
from importlib import resources
from ilflow.io import write_frames
from ilflow.reference import make_labeler
out, campaign = Path(sys.argv[1]), sys.argv[2] or str(resources.files("ilflow") / "examples" / "demo.yaml")
with h5py.File(out / "trajectory.h5md") as f:
    x = f["particles/trajectory/position/value"][:]
    cells = f["particles/trajectory/box/edges/value"][:]
    numbers = f["particles/trajectory/species"][:]
frames = [Atoms(numbers, positions=p, cell=c, pbc=True) for p, c in zip(x[-20:], cells[-20:])]
labelled = make_labeler(load_campaign(campaign).reference).label(frames)
write_frames(out / "labelled.extxyz", [a for a in labelled if isinstance(a, Atoms)])
print(f"{len(frames)} frames labelled")
PY
$ilflow evaluate --model "$model" --frames "$out/$frames_of/labelled.extxyz" --out "$out/errors.json"
