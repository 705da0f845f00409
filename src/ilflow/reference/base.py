"""The labeler contract: a list of Atoms in, the same list out, each labelled or an explicit failure.

A labelled frame is a copy of the input with a SinglePointCalculator holding energy (eV), forces (eV/Å)
and, for periodic frames, stress (eV/Å^3, ASE sign and Voigt order), plus `info` keys
`reference_method`, `reference_settings_hash` and `label_wall_time_s`. A failure is a `LabelFailure`
with a readable reason, a kind, and the tail of the program's output. Nothing is dropped.
"""

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list

MIN_DISTANCE_A = 0.5  # closer atoms are not labelled: no reference method is meaningful there

FAILURE_KINDS = ("invalid_geometry", "scf_not_converged", "crashed", "timed_out")


@dataclass(frozen=True)
class LabelFailure:
    """An explicit failure record for one input frame."""

    atoms: Atoms
    kind: str
    reason: str
    output_tail: str = ""
    wall_time_s: float = 0.0


class LabelError(Exception):
    """Raised inside a labeler for a frame that cannot be labelled; turned into a LabelFailure."""

    def __init__(self, kind: str, reason: str, output_tail: str = ""):
        super().__init__(reason)
        self.kind, self.reason, self.output_tail = kind, reason, output_tail


def settings_hash(method: str, settings: dict[str, Any]) -> str:
    """Short SHA-256 of a method's settings (identifies labels that are comparable)."""
    canonical = json.dumps({"method": method, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def check_geometry(atoms: Atoms, min_distance_A: float = MIN_DISTANCE_A) -> None:
    """LabelError('invalid_geometry') naming the closest pair if two atoms are closer than `min_distance_A`."""
    if len(atoms) < 2:
        return
    i, j, d = neighbor_list("ijd", atoms, min_distance_A, self_interaction=False)
    if len(d):
        k = int(np.argmin(d))
        raise LabelError(
            "invalid_geometry",
            f"atoms {i[k]} ({atoms[i[k]].symbol}) and {j[k]} ({atoms[j[k]].symbol}) are {d[k]:.3f} Å apart, "
            f"closer than {min_distance_A} Å; the frame is unphysical and was not labelled",
        )


def net_charge(atoms: Atoms) -> int:
    """Total charge (e) of a frame: `info['charge']` if given, else the sum of its formal charges."""
    if "charge" in atoms.info:
        return int(atoms.info["charge"])
    return int(round(float(atoms.get_initial_charges().sum())))


def multiplicity(atoms: Atoms, charge: int) -> int:
    """Lowest spin multiplicity for the electron count: 1 for even, 2 for odd (override with info['multiplicity'])."""
    if "multiplicity" in atoms.info:
        return int(atoms.info["multiplicity"])
    return 1 + (int(atoms.numbers.sum()) - charge) % 2


def labelled(atoms: Atoms, energy: float, forces: np.ndarray, stress: np.ndarray | None,
             method: str, settings_id: str, wall_time_s: float) -> Atoms:
    """A copy of `atoms` carrying the results and their provenance."""
    out = atoms.copy()
    results = {"energy": float(energy), "forces": np.asarray(forces, dtype=float)}
    if stress is not None:
        results["stress"] = np.asarray(stress, dtype=float)
    out.calc = SinglePointCalculator(out, **results)
    out.info.update(reference_method=method, reference_settings_hash=settings_id, label_wall_time_s=round(wall_time_s, 3))
    return out


@dataclass
class Labeler:
    """Base class: subclasses set `method`, `settings()` and `compute(atoms) -> (energy, forces, stress)`."""

    min_distance_A: float = field(default=MIN_DISTANCE_A, kw_only=True)
    method: str = field(default="", init=False)

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def settings_id(self) -> str:
        return settings_hash(self.method, self.settings())

    def compute(self, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def label(self, frames: list[Atoms]) -> list[Atoms | LabelFailure]:
        """Label every frame; each result is a labelled copy or a LabelFailure, in input order."""
        return [self._label_one(atoms) for atoms in frames]

    def _label_one(self, atoms: Atoms) -> Atoms | LabelFailure:
        start = time.perf_counter()
        try:
            check_geometry(atoms, self.min_distance_A)
            energy, forces, stress = self.compute(atoms)
        except LabelError as exc:
            return LabelFailure(atoms.copy(), exc.kind, exc.reason, exc.output_tail, time.perf_counter() - start)
        except Exception as exc:  # a crashed calculator must not take the other frames with it
            return LabelFailure(atoms.copy(), "crashed", f"{type(exc).__name__}: {exc}", "", time.perf_counter() - start)
        if not (np.isfinite(energy) and np.all(np.isfinite(forces))):
            return LabelFailure(atoms.copy(), "crashed", "the reference returned non-finite energy or forces", "",
                                time.perf_counter() - start)
        result = labelled(atoms, energy, forces, stress, self.method, self.settings_id, time.perf_counter() - start)
        config = getattr(self, "config", None)
        if getattr(config, "subtract_d3", None) is not None:
            from ilflow.potentials.d3_calculator import subtract_d3

            result = subtract_d3(result, config.subtract_d3.settings())
        if hasattr(config, "label_dispersion"):
            result.info["reference_dispersion"] = config.label_dispersion().description
        return result
