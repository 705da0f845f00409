"""torch-dftd side of benchmarks/d3_speed.py; runs in benchmarks/.venv-torch. Prints one JSON line.

  torch_dftd_side.py STRUCTURES.extxyz CUTOFF_A REPEATS
"""

import json
import sys
import time

import numpy as np
import torch
from ase.io import read
from torch_dftd.torch_dftd3_calculator import TorchDFTD3Calculator

torch.set_num_threads(2)


def main(path, cutoff, repeats):
    out = {}
    for atoms in read(path, ":"):
        calc = TorchDFTD3Calculator(atoms=atoms, device="cpu", damping="bj", xc="pbe", cutoff=float(cutoff),
                                    cnthr=float(cutoff), abc=False, dtype=torch.float64)
        atoms.calc = calc
        atoms.get_stress()
        times = []
        for k in range(int(repeats)):
            atoms.positions[0, 0] += 1e-4 * (-1) ** k
            t0 = time.perf_counter()
            atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
            times.append(time.perf_counter() - t0)
        out[str(len(atoms))] = {"s": float(np.median(times)), "energy_eV": float(atoms.get_potential_energy())}
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
