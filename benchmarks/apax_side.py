"""The Apax side of benchmarks/gmnn_vs_apax.py; runs in benchmarks/.venv-apax. Prints one JSON line.

  apax_side.py train TRAIN.extxyz VAL.extxyz OUT_DIR EPOCHS HIDDEN   (HIDDEN like 512,512)
  apax_side.py infer MODEL_DIR STRUCTURES.extxyz REPEATS
  apax_side.py memory MODEL_DIR STRUCTURE.extxyz
  apax_side.py md MODEL_DIR STRUCTURE.extxyz STEPS     (Apax's JAX-MD driver, NVT; seconds per step)
"""

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from ase.io import read


def train(train_path, val_path, out_dir, epochs, hidden):
    from apax.train.run import run

    out_dir = Path(out_dir).resolve()
    n_train, n_val = len(read(train_path, ":")), len(read(val_path, ":"))
    config = {
        "n_epochs": int(epochs), "seed": 1, "data_parallel": False,
        "data": {"directory": str(out_dir.parent), "experiment": out_dir.name,
                 "train_data_path": str(train_path), "val_data_path": str(val_path),
                 "n_train": n_train, "n_valid": n_val, "batch_size": 4, "valid_batch_size": 8,
                 "shift_method": "per_element_regression_shift", "shift_options": {"energy_regularisation": 1.0},
                 "scale_method": "per_element_force_rms_scale", "scale_options": {}},
        "model": {"name": "gmnn", "basis": {"name": "gaussian", "n_basis": 7, "r_min": 0.7, "r_max": 5.5},
                  "n_radial": 5, "n_contr": 8, "nn": [int(x) for x in hidden.split(",")], "calc_stress": True,
                  "ensemble": {"kind": "full", "n_members": 2},
                  "descriptor_dtype": "fp32", "readout_dtype": "fp32", "scale_shift_dtype": "fp64"},
        "loss": [{"name": "energy", "loss_type": "mse", "weight": 1.0},
                 {"name": "forces", "loss_type": "mse", "weight": 4.0},
                 {"name": "stress", "loss_type": "mse", "weight": 0.2}],
        "metrics": [{"name": "forces", "reductions": ["mae"]}],
        "optimizer": {"name": "adam", "emb_lr": 0.01, "nn_lr": 0.005, "scale_lr": 0.001, "shift_lr": 0.05},
        "callbacks": [{"name": "csv"}],
        "progress_bar": {"disable_epoch_pbar": True, "disable_batch_pbar": True},
    }
    start = time.perf_counter()
    run(config, log_level="warning")
    wall = time.perf_counter() - start
    rows = np.genfromtxt(out_dir / "log.csv", delimiter=",", names=True)
    epoch_times = np.atleast_1d(rows["epoch_time"])
    print(json.dumps({"wall_s": wall, "epoch_time_s": float(np.median(epoch_times[1:])) if len(epoch_times) > 1
                      else float(epoch_times[0]), "first_epoch_s": float(epoch_times[0]),
                      **evaluate(out_dir, val_path)}))


def evaluate(model_dir, val_path):
    """Validation errors over real atoms, computed here the same way as for ilflow."""
    from apax.md import ASECalculator

    calc = ASECalculator(model_dir=str(model_dir))
    de, df, ds = [], [], []
    for atoms in read(val_path, ":"):
        ref_e, ref_f, ref_s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)
        atoms.calc = calc
        de.append((atoms.get_potential_energy() - ref_e) / len(atoms))
        df.append((atoms.get_forces() - ref_f).ravel())
        ds.append((atoms.get_stress(voigt=False) - ref_s).ravel())
    return {"energy_mae_meV_atom": float(np.mean(np.abs(de)) * 1000),
            "forces_mae_meV_A": float(np.mean(np.abs(np.concatenate(df))) * 1000),
            "stress_mae_meV_A3": float(np.mean(np.abs(np.concatenate(ds))) * 1000)}


def infer(model_dir, structures, repeats):
    from apax.md import ASECalculator

    out = {}
    for atoms in read(structures, ":"):
        calc = ASECalculator(model_dir=str(model_dir))
        atoms.calc = calc
        props = ["energy", "forces", "stress"]
        calc.calculate(atoms, props, ["positions"])  # initialise and compile
        calc.calculate(atoms, props, ["positions"])
        times = []
        for _ in range(int(repeats)):
            t0 = time.perf_counter()
            calc.calculate(atoms, props, ["positions"])
            times.append(time.perf_counter() - t0)
        out[str(len(atoms))] = float(np.median(times))
    print(json.dumps(out))


def memory(model_dir, structure):
    from apax.md import ASECalculator

    atoms = read(structure)
    atoms.calc = ASECalculator(model_dir=str(model_dir))
    atoms.get_forces()
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"atoms": len(atoms), "peak_rss_MB": hwm / 1024}))


def md(model_dir, structure, steps):
    """Seconds per step of Apax's MD (NVT Nose-Hoover chain, 0.5 fs): the difference of Apax's own simulation
    times (its log) of a 3S- and an S-step run in chunks of S, so that compilation (first chunk) cancels."""
    import re
    import tempfile

    import yaml
    from apax.md.simulate import run_md

    model_config = yaml.safe_load((Path(model_dir) / "config.yaml").read_text())
    steps = int(steps)
    wall = {}
    for n in (steps, 3 * steps):
        sim_dir = tempfile.mkdtemp(prefix="apax-md-")
        md_config = {"seed": 1, "ensemble": {"name": "nvt", "dt": 0.5,
                                             "temperature_schedule": {"name": "constant", "T0": 300.0}},
                     "duration": n * 0.5, "n_inner": steps, "sampling_rate": steps, "buffer_size": 10,
                     "initial_structure": str(Path(structure).resolve()), "sim_dir": sim_dir, "restart": False,
                     "checkpoint_interval": 10 * n, "disable_pbar": True}
        run_md(model_config, md_config, log_level="info")
        log = (Path(sim_dir) / "md.log").read_text()
        wall[n] = float(re.findall(r"simulation finished after: ([0-9.]+) s", log)[-1])
    print(json.dumps({"s_per_step": (wall[3 * steps] - wall[steps]) / (2 * steps), "wall_s": wall}))


if __name__ == "__main__":
    {"train": train, "infer": infer, "memory": memory, "md": md}[sys.argv[1]](*sys.argv[2:])
