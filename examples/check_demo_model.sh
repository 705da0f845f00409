#!/usr/bin/env bash
# The study's test of a final model: 20 ps of NVT (Nose-Hoover chain) at 353 K on the demo's 4-pair box with the
# paper's stop rule (max ensemble force std > 0.5 eV/Å), with the campaign's final model (default `hybrid`: the
# dispersion-free ensemble + D3(BJ, gfn1, 20 Å) at run time), then 20 frames of that run labelled with the campaign's
# reference (dispersion-free GFN1-xTB in the demo) and the ensemble's errors on them (the run-time D3 is the
# dispersion the labels lack, so these are also the hybrid's errors against GFN1-xTB with its D3 over 20 Å).
#   bash examples/check_demo_model.sh PROJECT_DIR [CAMPAIGN] [MODEL]     (PROJECT_DIR: where `ilflow learn` ran)
# Environment: ILFLOW (the ilflow command, default `ilflow`), PYTHON (the interpreter that imports ilflow, for the
# snippets below; default python3). A campaign without final_models: the last learning ensemble, alone.
set -euo pipefail
project=${1:?usage: check_demo_model.sh PROJECT_DIR [CAMPAIGN] [MODEL]}
campaign=${2:-}
model_name=${3:-hybrid}
ilflow=${ILFLOW:-ilflow}
python=${PYTHON:-python3}
# the model's ensemble directory and run-time D3 options, from the campaign and the project
mapfile -t resolved < <($python - "$project" "$campaign" "$model_name" <<'PY'
import sys
from importlib import resources
from ilflow.active.final import resolve_model
from ilflow.config import load_campaign
from ilflow.project import Project
project, campaign, name = Project(sys.argv[1]), sys.argv[2], sys.argv[3]
campaign = load_campaign(campaign or str(resources.files("ilflow") / "examples" / "demo.yaml"))
if not campaign.final_models:
    name = "ensemble"
model, _ = resolve_model(campaign, project, name)
print(model.directory)
d3 = model.dispersion
print(f"--dispersion {d3['functional']} --d3-cutoff-A {d3['cutoff_A']}" if d3 else "")
PY
)
model=${resolved[0]}
read -r -a d3 <<< "${resolved[1]:-}"
out="$project/check-353K-$model_name"
echo "model: $model_name ($model), run-time D3: ${d3[*]:-none}"
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
from importlib import resources
from pathlib import Path
import h5py
from ase import Atoms
from ilflow.config import load_campaign
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
