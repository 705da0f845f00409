"""Shared fixtures: the CLI as a real subprocess, and reference facts computed independently of ilflow."""

import subprocess
import sys
from pathlib import Path

import pytest

BMIM = "CCCCn1cc[n+](C)c1"
BF4 = "F[B-](F)(F)F"
REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """JAX settings as a command has them (64-bit, compilation cache), before any test builds jnp arrays
    directly: importing ilflow no longer sets them."""
    import ilflow.runtime

    ilflow.runtime.configure_jax()


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m ilflow ARGS` and capture its exit status and output."""
    return subprocess.run(
        [sys.executable, "-m", "ilflow", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="session")
def cli():
    return run_cli


@pytest.fixture(scope="session")
def box_10_pairs(tmp_path_factory):
    """The issue's reference box: 10 BMIM+ and 10 BF4- at 1.210 g/cm3, built through the CLI."""
    out = tmp_path_factory.mktemp("box10") / "box.extxyz"
    result = run_cli("build", "-s", f"BMIM:10:{BMIM}", "-s", f"BF4:10:{BF4}", "--density-g-cm3", "1.210", "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def box_2_pairs():
    """A 2-ion-pair BMIM-BF4 box (60 atoms, 1.2 g/cm3), the smallest liquid box of the study's kind."""
    from ilflow.config import Box, Species
    from ilflow.system import build_box

    species = [Species(name="BMIM", smiles=BMIM, count=2), Species(name="BF4", smiles=BF4, count=2)]
    return build_box(species, Box(density_g_cm3=1.2, seed=3))


def rattled(atoms, n: int, sigma_A: float = 0.05, seed: int = 0):
    """n copies of `atoms` with Gaussian noise on the positions."""
    import numpy as np

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        frame = atoms.copy()
        frame.positions += rng.normal(0.0, sigma_A, frame.positions.shape)
        frames.append(frame)
    return frames
