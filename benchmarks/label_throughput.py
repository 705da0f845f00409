"""Labelling throughput of GFN2-xTB on 2-ion-pair BMIM-BF4 boxes (60 atoms) with 1 and 2 Dask workers.

Run: .venv/bin/python benchmarks/label_throughput.py [N_FRAMES]
Prints frames/s for each worker count and the speed-up, and writes benchmarks/results/label_throughput.json.
"""

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ilflow.config import Box, Species
from ilflow.config.execution import Execution
from ilflow.config.reference import XtbReference
from ilflow.data import Dataset
from ilflow.distributed import dask_client
from ilflow.labelling import label_into_dataset
from ilflow.reference import make_labeler
from ilflow.system import build_box


def frames(n: int):
    box = build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=2),
                     Species(name="BF4", smiles="F[B-](F)(F)F", count=2)], Box(density_g_cm3=1.2, seed=3))
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        f = box.copy()
        f.positions += rng.normal(0, 0.05, f.positions.shape)
        out.append(f)
    return out


def measure(n_workers: int, data) -> dict:
    with tempfile.TemporaryDirectory() as tmp, dask_client(Execution(workers=n_workers)) as client:
        client.submit(sum, [1]).result()  # cluster up before the clock starts
        start = time.perf_counter()
        summary = label_into_dataset(Dataset(Path(tmp) / "d.db"), data, make_labeler(XtbReference()), client)
        wall = time.perf_counter() - start
    assert summary.labelled == len(data)
    return {"workers": n_workers, "frames": len(data), "wall_s": round(wall, 2),
            "frames_per_s": round(len(data) / wall, 3)}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    data = frames(n)
    results = [measure(1, data), measure(2, data)]
    speedup = results[1]["frames_per_s"] / results[0]["frames_per_s"]
    for r in results:
        print(f"{r['workers']} worker(s): {r['frames']} frames in {r['wall_s']} s = {r['frames_per_s']} frames/s")
    print(f"2 workers / 1 worker throughput ratio: {speedup:.2f}x")
    out = Path(__file__).parent / "results" / "label_throughput.json"
    out.write_text(json.dumps({"benchmark": "label_throughput", "system": "BMIM-BF4 2 ion pairs, 60 atoms, GFN2-xTB",
                               "machine": f"{platform.machine()}, {os.cpu_count()} cores", "results": results,
                               "ratio_2_over_1": round(speedup, 2)}, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
