"""Where the MD step's time goes: XLA's cost analysis (FLOPs, bytes) next to measured time, per component, and
the machine's own float32 limits, one run.

  .venv/bin/python benchmarks/roofline.py [--pairs 4 8 32 64] [--model DIR] [--repeats 20] [--out FILE]

Components of one MD step of a GMNN ensemble (random 2 x 512 weights, or --model's), each jitted alone on the
same BMIM-BF4 box (1.2 g/cm3) with its neighbour list:
  descriptor  Gaussian moments of all atoms (one member);
  network     the readout MLP on those features (one member);
  forward     energy of the ensemble (descriptor + network, every member);
  backward    energy, forces and stress of the ensemble (forward + reverse mode);
  neighbours  a rebuild of the model's neighbour list (cell list, on device);
  md step     one Nose-Hoover step of the MD runner with the lists kept (what a user waits for).
Machine limits, measured here: float32 matrix product (2048^3) for FLOP/s, a large array copy for bytes/s.
Attained FLOP/s = XLA FLOPs / measured time; "share of peak" = attained / matmul FLOP/s; "bound" says whether
the component's arithmetic intensity (FLOP/byte) lies below (memory) or above (compute) the machine's balance.
Writes benchmarks/results/roofline.json (or --out).
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent


def seconds(fn, *args, repeats: int) -> float:
    """Median wall time of a compiled call (after one warm-up)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def cost(fn, *args) -> tuple[float, float]:
    """(FLOPs, bytes accessed) of the compiled program, from XLA's cost analysis."""
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis.get("flops", 0.0)), float(analysis.get("bytes accessed", 0.0))


def machine_limits(repeats: int) -> dict:
    a = jnp.ones((2048, 2048), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    flops = 2 * 2048**3 / seconds(matmul, a, repeats=repeats)
    big = jnp.ones((64 * 1024 * 1024,), jnp.float32)  # 256 MB
    copy = jax.jit(lambda x: x * 1.0001)
    bandwidth = 2 * big.nbytes / seconds(copy, big, repeats=repeats)
    return {"matmul_float32_flop_per_s": flops, "copy_bytes_per_s": bandwidth, "balance_flop_per_byte": flops / bandwidth}


def components(model_dir: Path, atoms, repeats: int) -> dict:
    from ilflow.md import NoseHoover, from_model
    from ilflow.md.force_field import allocate_lists, make_force, start_forces
    from ilflow.md.state import Control
    from ilflow.potentials.ensemble import ensemble_forces
    from ilflow.potentials.gmnn import descriptor, energy, readout
    from ilflow.potentials.model_io import load_model
    from ilflow.potentials.neighbors import build_neighbors
    from ilflow.potentials.system import make_system

    config, params, _ = load_model(model_dir)
    member = jax.tree_util.tree_map(lambda x: x[0], params)
    force_field = from_model(model_dir)
    system = make_system(atoms, config.elements)
    specs = allocate_lists(force_field, system)
    state = start_forces(force_field, specs, system)
    lists = state.lists.lists["gmnn"]
    features = descriptor(member, config, system, lists)
    integrator = NoseHoover(0.5)
    force = make_force(force_field, specs, force_field.params)
    md_state, aux = jax.jit(lambda s: integrator.init(system, jnp.asarray(atoms.get_masses()), jax.random.PRNGKey(0),
                                                       300.0, force, s))(state)
    control = Control(jnp.asarray(300.0), jnp.asarray(1.0))
    parts = {
        "descriptor": (lambda p, s, n: descriptor(p, config, s, n), (member, system, lists)),
        "network": (readout, (member, features)),
        "forward": (lambda p, s, n: jax.vmap(lambda q: energy(q, config, s, n))(p), (params, system, lists)),
        "backward": (lambda p, s, n: ensemble_forces(lambda q, t, m: energy(q, config, t, m), p, s, n),
                     (params, system, lists)),
        "neighbours": (lambda s: build_neighbors(s, specs["gmnn"]), (system,)),
        "md step": (lambda st, a: integrator.step(st, control, force, a), (md_state, aux)),
    }
    rows = {}
    for name, (fn, args) in parts.items():
        flops, nbytes = cost(fn, *args)
        t = seconds(jax.jit(fn), *args, repeats=repeats)
        rows[name] = {"ms": 1e3 * t, "gflop": flops / 1e9, "mbytes": nbytes / 1e6,
                      "attained_gflop_per_s": flops / t / 1e9, "flop_per_byte": flops / nbytes if nbytes else None}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, nargs="+", default=[4, 8, 32, 64])
    parser.add_argument("--model", type=Path, help="a trained model instead of the random 2 x 512 ensemble")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "roofline.json")
    args = parser.parse_args()
    from ilflow.config import Box, Species
    from ilflow.potentials import GMNNConfig, init_params, save_model
    from ilflow.runtime import ensure_configured
    from ilflow.system import build_box

    ensure_configured()
    model_dir = args.model
    if model_dir is None:
        model_dir = Path(tempfile.mkdtemp(prefix="roofline-")) / "model"
        config = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(512, 512))
        params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
        save_model(model_dir, config, params)
    limits = machine_limits(args.repeats)
    print(f"machine: float32 matmul {limits['matmul_float32_flop_per_s'] / 1e9:.0f} GFLOP/s, copy "
          f"{limits['copy_bytes_per_s'] / 1e9:.1f} GB/s, balance {limits['balance_flop_per_byte']:.1f} FLOP/byte")
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "jax": jax.__version__,
               "model": str(args.model or "random 2 x 512, ensemble of 2"), "limits": limits, "rows": []}
    for pairs in args.pairs:
        atoms = build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=pairs),
                           Species(name="BF4", smiles="F[B-](F)(F)F", count=pairs)], Box(density_g_cm3=1.2, seed=5))
        for name, row in components(model_dir, atoms, args.repeats).items():
            share = row["attained_gflop_per_s"] * 1e9 / limits["matmul_float32_flop_per_s"]
            bound = None if row["flop_per_byte"] is None else (
                "memory" if row["flop_per_byte"] < limits["balance_flop_per_byte"] else "compute")
            results["rows"].append({"atoms": len(atoms), "component": name, **row, "share_of_peak": share,
                                    "bound": bound})
            print(f"{len(atoms):5d} atoms {name:11s} {row['ms']:8.2f} ms {row['gflop']:8.3f} GFLOP "
                  f"{row['mbytes']:9.1f} MB {row['attained_gflop_per_s']:7.1f} GFLOP/s ({100 * share:4.1f}% of peak, "
                  f"{bound})", flush=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
