"""The benchmark data set: GFN2-xTB labels of 125 two-pair (60 atoms) and 125 four-pair (120 atoms)
BMIM-BF4 boxes, each packed with its own seed at a density in 1.1-1.3 g/cm3 and rattled by 0.03 Å.
Split at random (seed 1234) into 200 train and 50 validation frames.

Run: .venv/bin/python benchmarks/make_bmim_dataset.py   (about 10 minutes on 2 cores; resumable)
Writes benchmarks/data/bmim_xtb.db; already labelled frames are not labelled again.
"""

from pathlib import Path

import numpy as np

from ilflow.config import Box, Species
from ilflow.config.execution import Execution
from ilflow.config.reference import XtbReference
from ilflow.data import Dataset, Origin, assign_splits
from ilflow.distributed import dask_client
from ilflow.labelling import label_into_dataset
from ilflow.reference import make_labeler
from ilflow.system import build_box

DB = Path(__file__).parent / "data" / "bmim_xtb.db"


def frames() -> list:
    rng = np.random.default_rng(2024)
    out = []
    for pairs in (2, 4):
        for seed in range(125):
            species = [Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=pairs),
                       Species(name="BF4", smiles="F[B-](F)(F)F", count=pairs)]
            atoms = build_box(species, Box(density_g_cm3=float(rng.uniform(1.1, 1.3)), seed=seed))
            atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
            out.append(atoms)
    return out


def main() -> None:
    data = frames()
    splits = assign_splits(len(data), {"train": 200, "validation": 50}, seed=1234)
    origins = [Origin(stage="benchmark", frame=k) for k in range(len(data))]
    with dask_client(Execution(workers=2)) as client:
        summary = label_into_dataset(Dataset(DB), data, make_labeler(XtbReference()), client, splits, origins)
    print(summary)
    print(Dataset(DB).statistics())


if __name__ == "__main__":
    main()
