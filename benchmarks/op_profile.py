"""Where one force evaluation spends its time: XLA's per-operation times from a jax.profiler trace (CPU or GPU),
grouped by the JAX operation that made each one (forward `jvp(...)`, backward `transpose(jvp(...))`).

  .venv/bin/python benchmarks/op_profile.py [--model DIR] [--atoms 240] [--d3] [--top 25]

Model: DIR, or a random 2 x 512 ensemble of 2 (the cost does not depend on the weights); --d3: D3(BJ) with GFN1-xTB's
parameters over 20 Å (half list, 23 Å with the MTS skin) instead of the model. Box: the shipped 120-atom
BMIM-BF4 box repeated. Prints ms per evaluation, then the largest operations and the largest source operations.
"""

import argparse
import collections
import glob
import gzip
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# host-side events of the trace (dispatch, buffers, threads): not operations of the program
HOST_EVENTS = ("Thunk", "Pjit", "PjRt", "Await", "ThreadpoolListener", "Handle", "Wait", "Allocate", "Parse",
               "Python", "$", "end:", "Execute", "CommonPjRt")


def evaluation(args):
    """(jitted function, its arguments) of one force evaluation as MD does it (trimmed model list)."""
    import jax
    from ase.io import read

    from ilflow.potentials.neighbors import allocate, build_neighbors, trim_neighbors
    from ilflow.potentials.system import make_system

    atoms = read(HERE / "data" / "bmim_bf4_353K_120.extxyz")
    atoms = atoms.repeat((max(1, args.atoms // len(atoms)), 1, 1))
    if args.d3:
        from ilflow.potentials.d3 import D3Neighbors, d3_config, d3_tables
        from ilflow.potentials.d3_forces import d3_energy_forces_stress

        config = d3_config(tuple(sorted(set(atoms.numbers))), functional="gfn1", cutoff_A=20.0, cn_cutoff_A=20.0)
        system = make_system(atoms, config.elements)
        nb, _ = build_neighbors(system, allocate(system, config.pair_cutoff_A + 3.0, half=True))
        return jax.jit(lambda p, s, n: d3_energy_forces_stress(p, config, s, D3Neighbors(n, None))), \
            (d3_tables(config), system, nb)
    from ilflow.potentials import gmnn
    from ilflow.potentials.ensemble import ensemble_forces
    from ilflow.potentials.model_io import load_model

    if args.model:
        config, params, _ = load_model(args.model)
    else:
        config = gmnn.GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(512, 512))
        params = jax.vmap(lambda k: gmnn.init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    system = make_system(atoms, config.elements)
    spec = allocate(system, config.cutoff_A + 0.5, trim_cutoff_A=config.cutoff_A)
    nb, _ = trim_neighbors(system, build_neighbors(system, spec)[0], spec)
    return jax.jit(lambda p, s, n: ensemble_forces(lambda q, s_, n_: gmnn.energy(q, config, s_, n_), p, s, n)), \
        (params, system, nb)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path)
    parser.add_argument("--atoms", type=int, default=240)
    parser.add_argument("--d3", action="store_true")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    import jax

    from ilflow.runtime import ensure_configured

    ensure_configured()
    fn, inputs = evaluation(args)
    hlo = fn.lower(*inputs).compile().as_text()
    jax.block_until_ready(fn(*inputs))
    start = time.perf_counter()
    for _ in range(args.repeats):
        jax.block_until_ready(fn(*inputs))
    print(f"{len(inputs[1].positions)} atoms, {'D3' if args.d3 else 'model'}: "
          f"{(time.perf_counter() - start) / args.repeats * 1e3:.1f} ms per evaluation")
    trace_dir = Path(tempfile.mkdtemp(prefix="op-profile-"))
    with jax.profiler.trace(str(trace_dir), create_perfetto_trace=True):
        for _ in range(args.repeats):
            jax.block_until_ready(fn(*inputs))
    trace = json.load(gzip.open(glob.glob(str(trace_dir / "**" / "perfetto_trace.json.gz"), recursive=True)[0]))
    shutil.rmtree(trace_dir)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    source = {}
    for line in hlo.splitlines():
        match = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = .*?metadata=\{op_name=\"([^\"]+)\"", line)
        if match:
            source[match.group(1)] = re.sub(r"^jit\([^)]*\)/", "", match.group(2))
    per_op = collections.Counter()
    for event in events:
        if event.get("ph") == "X" and not event["name"].startswith(HOST_EVENTS):
            per_op[event["name"]] += event.get("dur", 0) / args.repeats / 1e3  # ms per evaluation
    per_source = collections.Counter()
    for name, ms in per_op.items():
        per_source[source.get(name, name)[:140]] += ms
    print(f"operations: {sum(per_op.values()):.1f} ms per evaluation (summed over threads)")
    for name, ms in per_op.most_common(args.top):
        print(f"{ms:8.2f} ms  {name:32s} {source.get(name, '')[:110]}")
    print("by source operation:")
    for name, ms in per_source.most_common(args.top):
        print(f"{ms:8.2f} ms  {name}")


if __name__ == "__main__":
    main()
