"""The hand-written backward pass of the pair vectors equals numerical derivatives (positions and cell)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

from ilflow.potentials.neighbors import host_neighbors
from ilflow.potentials.pairs import pair_vectors
from conftest import rattled


def test_pair_vector_gradients_match_finite_differences(box_2_pairs):
    atoms = rattled(box_2_pairs, 1, seed=4)[0]
    n = len(atoms)
    neighbors = host_neighbors(atoms, 4.0, n_pad=n)
    idx = jnp.concatenate([neighbors.idx[:, :-1], jnp.full((n, 1), n, jnp.int32)], axis=1)  # an empty slot too
    rows = jnp.array([0, 5, 5, 59])  # repeated and arbitrary centre atoms, as in blocks

    def energy(positions, cell):  # any smooth function of the occupied slots' vectors
        vec = pair_vectors(positions, cell, rows, idx[rows], neighbors.shifts[rows])
        r2 = jnp.sum(vec**2, axis=-1)
        return jnp.sum(jnp.where(idx[rows] < n, jnp.exp(-r2 / 4.0) * vec[..., 0], 0.0))

    check_grads(energy, (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)), order=1, modes=["rev"],
                eps=1e-5, atol=1e-7, rtol=1e-6)
    g = jax.grad(energy)(jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array))
    assert np.abs(np.asarray(g)).max() > 1e-3  # the check is not vacuous
