"""The training loss (paper eqn 7) over a padded batch, for one ensemble member.

L = lambda_E (E_ref - E)^2 / N + lambda_F sum_i |F_ref,i - F_i|^2 / (3 N) + lambda_S |V sigma_ref - V sigma|_F^2 / N

per structure of N real atoms (total energy in eV, the full 3x3 virial difference in eV, only for structures
with a stress label), averaged over the structures of the batch. Normalisation: eqn 7 as printed leaves the
energy and virial terms unnormalised, so they grow as N^2 and swamp the forces in a 300-atom box (a 5 meV/Å3
stress error is a 9 x (5 eV)^2 virial term); the study's code (Apax 0.14) divides both by N, and so do we.
The force term is the per-component mean of eqn 7.
"""

import jax
import jax.numpy as jnp

from ilflow.potentials.forces import Results, energy_forces_stress
from ilflow.potentials.gmnn import GMNNConfig, energy
from ilflow.potentials.system import Neighbors, System


def predict(params: dict, config: GMNNConfig, batch) -> Results:
    """Energy, forces and stress of every structure of a batch (vmapped)."""

    def one(positions, cell, species, mask, idx, shifts):
        system = System(positions, cell, species, mask)
        return energy_forces_stress(lambda p, s, n: energy(p, config, s, n), params, system, Neighbors(idx, shifts))

    return jax.vmap(one)(batch.positions, batch.cell, batch.species, batch.mask, batch.idx, batch.shifts)


def batch_loss(params: dict, config: GMNNConfig, batch, weight: jax.Array, weights: tuple[float, float, float]):
    """Weighted mean over structures of eqn 7; returns (loss, predictions)."""
    w_e, w_f, w_s = weights
    pred = predict(params, config, batch)
    n_atoms = jnp.sum(batch.mask, axis=1)
    e_term = (pred.energy - batch.energy) ** 2 / n_atoms
    f_term = jnp.sum(jnp.where(batch.mask[..., None], (pred.forces - batch.forces) ** 2, 0.0), axis=(1, 2)) / (3 * n_atoms)
    volume = jnp.abs(jnp.linalg.det(batch.cell))
    s_term = jnp.where(batch.has_stress,
                       jnp.sum((volume[:, None, None] * (pred.stress - batch.stress)) ** 2, axis=(1, 2)), 0.0) / n_atoms
    per_structure = w_e * e_term + w_f * f_term + w_s * s_term
    return jnp.sum(weight * per_structure) / jnp.sum(weight), pred
