"""CP2K Quickstep labels: one work directory per task, the wavefunction reused between its frames."""

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ilflow import units
from ilflow.config.reference import Cp2kReference
from ilflow.reference.base import LabelError, Labeler, LabelFailure, multiplicity, net_charge
from ilflow.reference.cp2k_input import cp2k_input

PROJECT = "ilflow"
_ENERGY = re.compile(r"ENERGY\| Total FORCE_EVAL \( QS \) energy \[(?:a\.u\.|hartree)\]:\s+(\S+)")


def _tail(text: str, n: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def parse_output(text: str, n_atoms: int) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Energy (eV), forces (eV/Å) and ASE stress (eV/Å^3, Voigt; None if not printed) from a CP2K log."""
    if "SCF run NOT converged" in text:
        raise LabelError("scf_not_converged", "CP2K: SCF run NOT converged", _tail(text))
    energies = _ENERGY.findall(text)
    if not energies:
        raise LabelError("crashed", "CP2K wrote no total energy", _tail(text))
    energy = float(energies[-1]) * units.HARTREE_EV
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if "ATOMIC FORCES in" in line)
    rows = [line.split() for line in lines[start + 3:start + 3 + n_atoms]]
    forces = np.array([[float(x) for x in row[3:6]] for row in rows]) * units.HARTREE_PER_BOHR_EV_A
    stress = None
    marks = [i for i, line in enumerate(lines) if "STRESS| Analytical stress tensor [GPa]" in line]
    if marks:
        sigma = np.array([[float(x) for x in lines[marks[-1] + 2 + k].split()[2:5]] for k in range(3)])
        ase_stress = -sigma * units.GPA_EV_A3  # CP2K prints -(1/V) dE/d(strain); ASE uses +(1/V) dE/d(strain)
        stress = ase_stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return energy, forces, stress


@dataclass
class Cp2kLabeler(Labeler):
    """Runs `config.command` (e.g. `mpirun -n 32 cp2k.psmp`) on the `paper` preset with the campaign's overrides."""

    config: Cp2kReference = None  # type: ignore[assignment]
    work_root: Path | None = field(default=None, kw_only=True)  # default: the system temp directory

    def __post_init__(self):
        self.method = f"cp2k:{self.config.preset}"

    def settings(self) -> dict[str, Any]:
        return self.config.model_dump(exclude={"command", "timeout_s", "keep_workdirs"})

    def input_text(self, atoms: Atoms, restart_file: str | None = None) -> str:
        charge = net_charge(atoms)
        return cp2k_input(self.config, atoms, charge, multiplicity(atoms, charge), restart_file)

    def label(self, frames: list[Atoms]) -> list[Atoms | LabelFailure]:
        """Label the frames one after another in one work directory, each starting from the last wavefunction."""
        root = Path(self.work_root or tempfile.gettempdir())
        root.mkdir(parents=True, exist_ok=True)
        self._workdir = Path(tempfile.mkdtemp(prefix="cp2k-", dir=root))
        self._frame = 0
        results = [self._label_one(atoms) for atoms in frames]
        if not self.config.keep_workdirs and not any(isinstance(r, LabelFailure) for r in results):
            shutil.rmtree(self._workdir, ignore_errors=True)
        return results

    def compute(self, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
        workdir = getattr(self, "_workdir", None) or Path(tempfile.mkdtemp(prefix="cp2k-"))
        frame = getattr(self, "_frame", 0)
        self._frame = frame + 1
        wfn = workdir / f"{PROJECT}-RESTART.wfn"
        restart = wfn.name if wfn.exists() else None
        inp, log = workdir / f"frame-{frame:04d}.inp", workdir / f"frame-{frame:04d}.log"
        inp.write_text(self.input_text(atoms, restart))
        command = shlex.split(self.config.command) + ["-i", inp.name, "-o", log.name]
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        try:
            proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                                  timeout=self.config.timeout_s, env=env)
        except subprocess.TimeoutExpired:
            text = log.read_text() if log.exists() else ""
            raise LabelError("timed_out", f"CP2K did not finish within {self.config.timeout_s:.0f} s "
                             f"(work directory {workdir})", _tail(text)) from None
        except FileNotFoundError:
            raise LabelError("crashed", f"CP2K command {self.config.command!r} not found; install CP2K "
                             "(Debian: apt-get install cp2k) or set reference.command") from None
        text = log.read_text() if log.exists() else ""
        if proc.returncode != 0:
            raise LabelError("crashed", f"CP2K exited with status {proc.returncode} (work directory {workdir})",
                             _tail(text + "\n" + proc.stdout + "\n" + proc.stderr))
        return parse_output(text, len(atoms))
