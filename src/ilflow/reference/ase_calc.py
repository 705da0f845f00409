"""Any ASE calculator, given by import path ("module:Class") and keyword arguments."""

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from ilflow.config.reference import AseReference
from ilflow.errors import ConfigError
from ilflow.reference.base import Labeler


def import_calculator(path: str):
    """The class (or factory) at "module.path:Name"; ConfigError naming the path if it is not there."""
    module_name, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"reference.calculator {path!r} cannot be imported ({exc}); install its package or fix the path") from None


@dataclass
class AseLabeler(Labeler):
    """Label with `Class(**kwargs)`; stress only where the calculator provides it for periodic frames."""

    config: AseReference = None  # type: ignore[assignment]

    def __post_init__(self):
        self.method = f"ase:{self.config.calculator}"
        import_calculator(self.config.calculator)  # fail early, before any task is sent out

    def settings(self) -> dict[str, Any]:
        return self.config.model_dump()

    def compute(self, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
        work = atoms.copy()
        work.calc = import_calculator(self.config.calculator)(**self.config.kwargs)
        energy = work.get_potential_energy()
        forces = work.get_forces()
        stress = None
        if work.pbc.all() and "stress" in getattr(work.calc, "implemented_properties", ()):
            stress = work.get_stress(voigt=True)
        return energy, forces, stress
