"""Checks evaluated every step inside the jitted loop; the first failing one stops the run (its code is kept).

1 uncertainty: the ensemble's force uncertainty (paper eqn 8) above the threshold (eV/Å);
2 non-finite: energy, forces or positions not finite;
3 temperature: above the limit (K), a blow-up;
4 broken molecule: a bond of the starting topology stretched beyond `bond_stretch` x its starting length;
5 converged: (relaxations) the largest force component below `converged_fmax_eV_A` - a success.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ilflow import units
from ilflow.md.state import Control, MDState, temperature_K

STOP_REASONS = {0: None, 1: "uncertainty", 2: "non-finite", 3: "temperature", 4: "broken molecule", 5: "converged"}


@dataclass(frozen=True)
class Checks:
    max_uncertainty_eV_A: float | None = None
    max_temperature_K: float | None = None
    bonds: tuple[tuple[int, int], ...] = ()  # atom index pairs of the starting topology
    bond_lengths_A: tuple[float, ...] = ()
    bond_stretch: float = 1.6
    converged_fmax_eV_A: float | None = None
    converged_pressure_bar: float | None = None  # also |virial pressure - target| below this (cell relaxations)

    @classmethod
    def with_topology(cls, atoms, **kwargs) -> "Checks":
        """Bonds from ilflow's bond graph of `atoms` (covalent radii), with their current lengths."""
        from ilflow.system.topology import bond_graph

        pairs = sorted(bond_graph(atoms))
        if not pairs:
            return cls(**kwargs)
        lengths = [float(atoms.get_distance(i, j, mic=True)) for i, j in pairs]
        return cls(bonds=tuple(pairs), bond_lengths_A=tuple(lengths), **kwargs)


def first_failure(checks: Checks, state: MDState, control: Control) -> jax.Array:
    """Stop code (int) of `state`: 0 if all checks pass, else the lowest failing code."""
    mask = state.system.mask
    code = jnp.asarray(0)
    finite = (jnp.isfinite(state.evaluation.energy)
              & jnp.all(jnp.where(mask[:, None], jnp.isfinite(state.evaluation.forces), True))
              & jnp.all(jnp.isfinite(state.system.positions)))
    fmax = jnp.max(jnp.where(mask[:, None], jnp.abs(state.evaluation.forces), 0.0))
    converged = fmax < (checks.converged_fmax_eV_A or 0.0)
    if checks.converged_pressure_bar:
        virial_bar = -jnp.trace(state.evaluation.stress) / 3.0 / units.BAR_EV_A3
        converged = converged & (jnp.abs(virial_bar - control.pressure_bar) < checks.converged_pressure_bar)
    failures = [(5, converged) if checks.converged_fmax_eV_A else None,
                (4, _broken(checks, state)) if checks.bonds else None,
                (3, temperature_K(state.momenta, state.masses, mask) > checks.max_temperature_K)
                if checks.max_temperature_K else None,
                (2, ~finite),
                (1, state.evaluation.uncertainty > checks.max_uncertainty_eV_A) if checks.max_uncertainty_eV_A else None]
    for c, failed in filter(None, failures):  # lowest code wins: applied last
        code = jnp.where(failed, c, code)
    return code


def _broken(checks: Checks, state: MDState) -> jax.Array:
    bonds = np.asarray(checks.bonds)
    d = state.system.positions[bonds[:, 1]] - state.system.positions[bonds[:, 0]]
    frac = d @ jnp.linalg.inv(state.system.cell)
    d = (frac - jnp.round(frac)) @ state.system.cell
    return jnp.any(jnp.linalg.norm(d, axis=1) > checks.bond_stretch * jnp.asarray(checks.bond_lengths_A))
