"""benchmarks/gpu_suite.sh --quick: the one-shot accelerator suite keeps working on CPU (the script as a user
runs it, its JSON read back), so that a GPU machine, when there is one, runs it without debugging."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_suite_quick_writes_its_json(tmp_path):
    out = tmp_path / "gpu_suite.json"
    env = {**os.environ, "PYTHON": sys.executable, "ILFLOW_JAX_CACHE": "off"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_suite.sh"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["quick"] and result["platform"] == "cpu"
    variants = {row["variant"]: row for row in result["md"]}
    assert set(variants) == {"model alone", "hybrid", "hybrid, D3 every 8"}
    assert all(row["atoms"] == 120 and row["atom_steps_per_s"] > 0 for row in variants.values())
    (replicas,) = result["replicas"]
    assert replicas["replicas"] == 4 and replicas["atom_steps_per_s"] > 0 and replicas["speedup"] > 0
    # the same weights in float32 and float64: close (float32 rounding), not identical
    precision = result["precision"]
    assert 0.0 < precision["rms_diff_eV_A"] < 1e-3 * precision["rms_force_eV_A"]
    assert result["apax"]["installed"] in (True, False)
