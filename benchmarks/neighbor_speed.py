"""Neighbour-list build: ilflow's jitted cell list against ASE's neighbor_list (the study's ASE path), one run.

  .venv/bin/python benchmarks/neighbor_speed.py

Boxes: benchmarks/data/bmim_bf4_353K_120.extxyz (120 atoms of BMIM-BF4 at 353 K) repeated, atoms rattled by 0.1 Å.
Lists: the model's (full, 6 Å = 5.5 Å cutoff + skin) at 120-7,680 atoms and D3's (half, 23 Å = 20 Å + 3 Å skin) at
120-960 atoms. ilflow: the best of 3 repeats of 5 builds (compilation excluded); ASE: one build. Every ilflow list
is checked to hold ASE's pairs. Writes benchmarks/results/neighbor_speed.json.
"""

import json
import os
import platform
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = [((1, 1, 1), 6.0, False), ((2, 2, 2), 6.0, False), ((4, 2, 2), 6.0, False), ((4, 4, 4), 6.0, False),
         ((1, 1, 1), 23.0, True), ((2, 1, 1), 23.0, True), ((2, 2, 2), 23.0, True)]


def pair_set(idx, shifts, n: int, half: bool) -> set:
    """(i, j, shift) of a dense list; a half list with each pair's mirror added."""
    import numpy as np

    rows, slots = np.nonzero(idx < n)
    pairs = {(int(i), int(idx[i, k]), *np.rint(shifts[i, k]).astype(int)) for i, k in zip(rows, slots)}
    return pairs | {(j, i, -a, -b, -c) for i, j, a, b, c in pairs} if half else pairs


def main() -> None:
    import jax
    import numpy as np
    from ase.io import read
    from ase.neighborlist import neighbor_list

    from ilflow.potentials.neighbors import allocate, build_neighbors
    from ilflow.potentials.system import make_system

    unit = read(HERE / "data" / "bmim_bf4_353K_120.extxyz")
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "rows": []}
    for repeats, cutoff, half in CASES:
        atoms = unit.repeat(repeats)
        atoms.rattle(0.1, seed=2)
        system = make_system(atoms, tuple(sorted(set(atoms.numbers))))
        spec = allocate(system, cutoff, half=half)
        neighbors, overflow = build_neighbors(system, spec)
        jax.block_until_ready(neighbors)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(5):
                jax.block_until_ready(build_neighbors(system, spec))
            best = min(best, (time.perf_counter() - start) / 5)
        start = time.perf_counter()
        i, j, S = neighbor_list("ijS", atoms, cutoff)
        ase_s = time.perf_counter() - start
        theirs = {(int(a), int(b), *map(int, s)) for a, b, s in zip(i, j, S)}
        same = not bool(overflow) and pair_set(np.asarray(neighbors.idx), np.asarray(neighbors.shifts), len(atoms),
                                               half) == theirs
        row = {"atoms": len(atoms), "cutoff_A": cutoff, "half": half, "ilflow_ms": 1e3 * best, "ase_ms": 1e3 * ase_s,
               "speedup": ase_s / best, "same_pairs_as_ase": same, "bins": spec.bins, "bin_capacity": spec.bin_capacity}
        results["rows"].append(row)
        print(f"{len(atoms):5d} atoms, {cutoff:4.1f} Å {'half' if half else 'full'}: ilflow {row['ilflow_ms']:7.1f} ms, "
              f"ASE {row['ase_ms']:8.1f} ms -> {row['speedup']:5.1f}x; same pairs: {same}", flush=True)
    (HERE / "results" / "neighbor_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {HERE / 'results' / 'neighbor_speed.json'}")


if __name__ == "__main__":
    main()
