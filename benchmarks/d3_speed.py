"""D3(BJ) speed: ilflow (JAX) against simple-dftd3 and torch-dftd (the study's run-time D3), one run.

  bash benchmarks/setup_peer_env.sh torch    # torch 2.13.0 CPU + torch-dftd in benchmarks/.venv-torch (once)
  .venv/bin/python benchmarks/d3_speed.py [--repeats 5]

Energy + forces + stress of 300- and 960-atom BMIM-BF4 boxes with two-body cutoff = CN cutoff = 8 and 20 Å,
no three-body term (as the study's torch-dftd, abc=False), PBE parameters for all three codes.
  per call: a new configuration, neighbour list included (ilflow: cell list built in the same jitted call);
  per MD step: ilflow with the neighbour list reused (skin), MLP ensemble (2 x 512 x 512) alone vs + D3.
Prints ratios and writes benchmarks/results/d3_speed.json.
"""

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import jax
import numpy as np

HERE = Path(__file__).resolve().parent


def _median_time(fn, repeats):
    jax.block_until_ready(fn(0))
    times = []
    for k in range(1, repeats + 1):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(k))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from ase.io import write
    from ase.units import Bohr
    from dftd3.interface import DispersionModel, RationalDampingParam

    from ilflow.config import Box, Species
    from ilflow.potentials.d3 import D3Neighbors, d3_config, d3_tables
    from ilflow.potentials.d3_forces import d3_energy_forces_stress
    from ilflow.potentials.ensemble import ensemble_forces
    from ilflow.potentials.gmnn import GMNNConfig, energy, init_params
    from ilflow.potentials.hybrid import HybridNeighbors, hybrid_ensemble_forces
    from ilflow.potentials.neighbors import allocate, build_neighbors
    from ilflow.potentials.system import make_system
    from ilflow.system import build_box

    boxes = [build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=n),
                        Species(name="BF4", smiles="F[B-](F)(F)F", count=n)], Box(density_g_cm3=1.2, seed=5))
             for n in (10, 32)]
    work = Path(tempfile.mkdtemp(prefix="d3-speed-"))
    write(work / "boxes.extxyz", boxes)
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "rows": []}
    elements = (1, 5, 6, 7, 9)
    gmnn = GMNNConfig(elements=elements, hidden=(512, 512))
    gparams = jax.vmap(lambda k: init_params(gmnn, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    skin = 1.0
    for cutoff in (8.0, 20.0):
        torch_out = json.loads(subprocess.run(
            [str(HERE / ".venv-torch" / "bin" / "python"), str(HERE / "torch_dftd_side.py"), str(work / "boxes.extxyz"),
             str(cutoff), str(args.repeats)], capture_output=True, text=True, timeout=3600).stdout.strip().splitlines()[-1])
        config = d3_config(elements, "pbe", cutoff_A=cutoff, cn_cutoff_A=cutoff)
        tables = d3_tables(config)
        for atoms in boxes:
            n = len(atoms)
            system = make_system(atoms, elements)
            spec = allocate(system, config.pair_cutoff_A + skin, half=True)  # D3 takes each pair once

            @jax.jit
            def d3_call(positions):
                s = system._replace(positions=positions)
                nb, _ = build_neighbors(s, spec)
                return d3_energy_forces_stress(tables, config, s, D3Neighbors(nb))

            def moved(k):
                return system.positions.at[0, 0].add(1e-4 * (-1) ** k)

            ours_call = _median_time(lambda k: d3_call(moved(k)), args.repeats)
            ref_energy = float(d3_call(system.positions).energy)

            model = DispersionModel(atoms.numbers, atoms.positions / Bohr, atoms.cell.array / Bohr)
            model.set_realspace_cutoff(cutoff / Bohr, cutoff / Bohr, cutoff / Bohr)
            param = RationalDampingParam(method="pbe")

            def sdftd3(k):
                pos = atoms.positions.copy()
                pos[0, 0] += 1e-4 * (-1) ** k
                model.update(pos / Bohr, atoms.cell.array / Bohr)
                return model.get_dispersion(param, grad=True)["energy"]

            s_call = _median_time(sdftd3, args.repeats)

            # MD step: lists reused; MLP ensemble alone vs MLP + D3
            g_spec = allocate(system, gmnn.cutoff_A + skin)
            g_nb, _ = build_neighbors(system, g_spec)
            d_nb, _ = build_neighbors(system, spec)
            mlp = jax.jit(lambda pos: ensemble_forces(lambda p, s, nn: energy(p, gmnn, s, nn), gparams,
                                                      system._replace(positions=pos), g_nb))
            hyb = jax.jit(lambda pos: hybrid_ensemble_forces({"gmnn": gparams, "d3": tables}, (gmnn, config),
                                                             system._replace(positions=pos),
                                                             HybridNeighbors(g_nb, D3Neighbors(d_nb))))
            d3_step = jax.jit(lambda pos: d3_energy_forces_stress(tables, config, system._replace(positions=pos),
                                                                  D3Neighbors(d_nb)))
            t_mlp = _median_time(lambda k: mlp(moved(k)), args.repeats)
            t_hyb = _median_time(lambda k: hyb(moved(k)), args.repeats)
            t_d3_step = _median_time(lambda k: d3_step(moved(k)), args.repeats)
            t_torch = torch_out[str(n)]["s"]
            row = {"atoms": n, "cutoff_A": cutoff, "ilflow_call_s": ours_call, "simple_dftd3_call_s": s_call,
                   "torch_dftd_call_s": t_torch, "ilflow_d3_step_s": t_d3_step, "mlp_step_s": t_mlp,
                   "mlp_plus_d3_step_s": t_hyb, "energy_ilflow_eV": ref_energy,
                   "energy_torch_dftd_eV": torch_out[str(n)]["energy_eV"]}
            results["rows"].append(row)
            print(f"{n:4d} atoms, D3 cutoff {cutoff:4.1f} Å: per call ilflow {ours_call * 1e3:7.1f} ms, "
                  f"simple-dftd3 {s_call * 1e3:7.1f} ms ({s_call / ours_call:.1f}x), torch-dftd {t_torch * 1e3:7.1f} ms "
                  f"({t_torch / ours_call:.1f}x); MD step D3 {t_d3_step * 1e3:.1f} ms, MLP {t_mlp * 1e3:.1f} ms, "
                  f"MLP+D3 {t_hyb * 1e3:.1f} ms = {t_hyb / t_mlp:.2f}x MLP")
    out = HERE / "results" / "d3_speed.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
