"""ilflow GMNN against Apax 0.14 (the study's code) with the same hyperparameters, in one run on one machine.

  bash benchmarks/setup_peer_env.sh apax             # Apax in benchmarks/.venv-apax (once)
  .venv/bin/python benchmarks/make_bmim_dataset.py   # xTB labels (once, ~20 min)
  .venv/bin/python benchmarks/gmnn_vs_apax.py [--epochs 30] [--hidden 512,512]

Measures (ensembles of 2 members, r_max 5.5 Å, 7 basis functions, 5 radial functions, batch 4, loss weights
1/4/0.2, learning rates 0.01/0.005/0.001/0.05):
  accuracy   validation errors after the same number of epochs on the same 200 train / 50 validation frames,
             both computed here over real atoms only;
  training   median time per epoch (first epoch, with compilation, excluded);
  inference  energy+forces+stress of 300- and 960-atom BMIM-BF4 boxes through each code's ASE calculator;
  memory     peak memory of one evaluation (separate processes) from 10^3 to 10^5 atoms.
Prints each as a ratio and writes benchmarks/results/gmnn_vs_apax.json.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
APAX_PY = HERE / ".venv-apax" / "bin" / "python"
DB = HERE / "data" / "bmim_xtb.db"


def apax(*args, timeout=7200) -> dict:
    # Apax's environment is its own: a PYTHONPATH set for ilflow (gpu_suite.sh's wheels) would shadow its packages
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    out = subprocess.run([str(APAX_PY), str(HERE / "apax_side.py"), *map(str, args)], capture_output=True, text=True,
                         timeout=timeout, env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"))
    if out.returncode != 0:
        raise RuntimeError(f"apax side failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_splits(work: Path) -> tuple[list, list]:
    """The benchmark data set's train and validation frames as work/train.extxyz and work/val.extxyz for Apax
    (labels kept, info dropped: Apax reads unknown info keys as labels)."""
    from ase.io import write

    from ilflow.data import Dataset

    dataset = Dataset(DB)
    splits = list(dataset.frames(split="train")), list(dataset.frames(split="validation"))
    for name, frames in zip(("train", "val"), splits):
        clean = [f.copy() for f in frames]
        for f, src in zip(clean, frames):
            f.calc, f.info = src.calc, {}
        write(work / f"{name}.extxyz", clean)
    return splits


def boxes(work: Path) -> Path:
    from ase.io import write

    from ilflow.config import Box, Species
    from ilflow.system import build_box

    frames = [build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=n),
                         Species(name="BF4", smiles="F[B-](F)(F)F", count=n)], Box(density_g_cm3=1.2, seed=5))
              for n in (10, 32)]
    path = work / "boxes.extxyz"
    write(path, frames)
    return path


def ours_train(train, val, work: Path, epochs: int, hidden) -> dict:
    from ilflow.config.model import LearningRates, Model, Training
    from ilflow.training.api import train_model

    model = Model(hidden_layers=list(hidden), ensemble_size=2,
                  training=Training(epochs=epochs, batch_size=4, patience_epochs=None,
                                    learning_rates=LearningRates(contraction=0.01, network=0.005, scale=0.001, shift=0.05)))
    times = []
    start = time.perf_counter()
    table = train_model(train, val, model, work / "ilflow-model", progress=lambda row: times.append(row["epoch_time_s"]))
    return {"wall_s": time.perf_counter() - start, "epoch_time_s": float(np.median(times[1:])),
            "first_epoch_s": times[0], **{k: getattr(table, k) for k in ("energy_mae_meV_atom", "forces_mae_meV_A",
                                                                   "stress_mae_meV_A3")}}


def ours_infer(model_dir: Path, structures: Path, repeats: int) -> dict:
    from ase.io import read

    from ilflow.potentials import Calculator

    out = {}
    for atoms in read(structures, ":"):
        atoms.calc = Calculator(model_dir)
        atoms.get_forces()
        atoms.get_stress()
        times = []
        for k in range(repeats + 1):
            atoms.positions[0, 0] += 1e-4 * (-1) ** k  # a new configuration, inside the skin
            t0 = time.perf_counter()
            atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
            times.append(time.perf_counter() - t0)
        out[str(len(atoms))] = float(np.median(times[1:]))
    return out


def ours_memory_child(model_dir: str, structure: str) -> None:
    from ase.io import read

    from ilflow.potentials import Calculator

    atoms = read(structure)
    atoms.calc = Calculator(model_dir)
    atoms.get_forces()
    print(json.dumps({"atoms": len(atoms), "peak_rss_MB": peak_rss_MB()}))


def peak_rss_MB() -> float:
    """High-water mark of this process's resident memory (VmHWM; ru_maxrss would include the parent's
    memory inherited through fork before exec)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(model_dirs: dict, work: Path, repeats=(1, 2, 3, 4, 5, 7), apax_max_atoms: int = 20_000) -> dict:
    from ase.io import read, write

    base = read(work / "boxes.extxyz", 0)  # 300 atoms
    rows = {"ilflow": [], "apax": []}
    for n in repeats:
        path = work / f"mem_{n}.extxyz"
        write(path, base.repeat(n))
        cmd = [sys.executable, __file__, "--memory-child", str(model_dirs["ilflow"]), str(path)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        if out.returncode == 0:
            rows["ilflow"].append(json.loads(out.stdout.strip().splitlines()[-1]))
        else:
            rows["ilflow"].append({"atoms": 300 * n**3, "error": out.stderr[-300:]})
        if 300 * n**3 > apax_max_atoms:  # bounded to keep the run under an hour; see the note
            continue
        try:
            rows["apax"].append(apax("memory", model_dirs["apax"], path, timeout=900))
        except Exception as exc:  # out of memory or too slow: say so
            rows["apax"].append({"atoms": 300 * n**3, "error": str(exc)[-300:]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", default="512,512")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--memory-child", nargs=2)
    parser.add_argument("--memory-only", help="work directory of an earlier run: redo only the memory part")
    args = parser.parse_args()
    if args.memory_child:
        return ours_memory_child(*args.memory_child)
    if args.memory_only:
        work = Path(args.memory_only)
        results = json.loads((HERE / "results" / "gmnn_vs_apax.json").read_text())
        results["memory"] = memory({"ilflow": work / "ilflow-model", "apax": work / "apax-model"}, work)
        return report(results)
    hidden = tuple(int(x) for x in args.hidden.split(","))
    work = Path(tempfile.mkdtemp(prefix="gmnn-vs-apax-"))
    train, val = write_splits(work)
    assert len(train) == 200 and len(val) == 50, "run benchmarks/make_bmim_dataset.py first"

    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "epochs": args.epochs, "hidden": hidden}
    results["train_ilflow"] = ours_train(train, val, work, args.epochs, hidden)
    results["train_apax"] = apax("train", work / "train.extxyz", work / "val.extxyz", work / "apax-model", args.epochs,
                                 args.hidden)
    structures = boxes(work)
    results["infer_ilflow_s"] = ours_infer(work / "ilflow-model", structures, args.repeats)
    results["infer_apax_s"] = apax("infer", work / "apax-model", structures, args.repeats)
    results["memory"] = memory({"ilflow": work / "ilflow-model", "apax": work / "apax-model"}, work)
    results["work_dir"] = str(work)
    report(results)


def report(results: dict) -> None:
    ti, ta = results["train_ilflow"], results["train_apax"]
    lines = [
        f"validation force MAE   ilflow {ti['forces_mae_meV_A']:.1f}  apax {ta['forces_mae_meV_A']:.1f} meV/Å"
        f"   ratio apax/ilflow {ta['forces_mae_meV_A'] / ti['forces_mae_meV_A']:.2f}",
        f"validation energy MAE  ilflow {ti['energy_mae_meV_atom']:.2f}  apax {ta['energy_mae_meV_atom']:.2f} meV/atom",
        f"validation stress MAE  ilflow {ti['stress_mae_meV_A3']:.2f}  apax {ta['stress_mae_meV_A3']:.2f} meV/Å3",
        f"time per epoch         ilflow {ti['epoch_time_s']:.2f}  apax {ta['epoch_time_s']:.2f} s"
        f"   ratio apax/ilflow {ta['epoch_time_s'] / ti['epoch_time_s']:.2f}",
    ]
    for n in results["infer_ilflow_s"]:
        a, b = results["infer_ilflow_s"][n], results["infer_apax_s"][n]
        lines.append(f"E+F+S {n:>4} atoms       ilflow {a * 1000:.1f}  apax {b * 1000:.1f} ms"
                     f"   throughput ratio ilflow/apax {b / a:.2f}")
    for tool, rows in results["memory"].items():
        ok = [r for r in rows if "peak_rss_MB" in r]
        if len(ok) >= 2:
            slope, intercept = np.polyfit([r["atoms"] for r in ok], [r["peak_rss_MB"] for r in ok], 1)
            lines.append(f"peak memory {tool:6s}: " + ", ".join(f"{r['atoms']}: {r['peak_rss_MB']:.0f} MB" for r in ok)
                         + f"  (linear fit {slope * 1000:.1f} MB per 1000 atoms + {intercept:.0f} MB)")
        for r in rows:
            if "error" in r:
                lines.append(f"peak memory {tool}: {r['atoms']} atoms failed: {r['error'][-120:]}")
    results["summary"] = lines
    print("\n".join(lines))
    out = HERE / "results" / "gmnn_vs_apax.json"
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
