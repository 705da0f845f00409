"""Pair vectors of a neighbour list, with a hand-written backward pass.

Every potential starts from v_ik = R_j - R_i + S_ik @ cell for the slots k of centre atoms i. Autodiff of
the gathers works but XLA's generic transpose is several times slower on CPU than what the structure
allows: the cotangent of v goes back as a row sum to i, one scatter-add to j, and S^T v-bar to the cell.
"""

import jax
import jax.numpy as jnp

from ilflow.potentials.system import Neighbors, System


@jax.custom_vjp
def pair_vectors(positions: jax.Array, cell: jax.Array, centre: jax.Array, idx: jax.Array,
                 shifts: jax.Array) -> jax.Array:
    """(B, K, 3) vectors R_idx - R_centre + shifts @ cell (Å); empty slots (idx = N) give R_(N-1) - R_centre
    plus their shift, to be masked by the caller. centre (B,), idx (B, K), shifts (B, K, 3)."""
    n = positions.shape[0]
    image = shifts[..., 0:1] * cell[0] + shifts[..., 1:2] * cell[1] + shifts[..., 2:3] * cell[2]
    return positions[jnp.minimum(idx, n - 1)] - positions[centre][:, None, :] + image


def _pair_vectors_fwd(positions, cell, centre, idx, shifts):
    return pair_vectors(positions, cell, centre, idx, shifts), (positions.shape[0], centre, idx, shifts)


def _pair_vectors_bwd(saved, ct):
    n, centre, idx, shifts = saved
    ct_positions = (jnp.zeros((n, 3), ct.dtype).at[idx].add(ct, mode="drop")
                    .at[centre].add(-jnp.sum(ct, axis=1)))
    ct_cell = jnp.einsum("bkc,bkd->cd", shifts.astype(ct.dtype), ct)
    return ct_positions, ct_cell, None, None, None


pair_vectors.defvjp(_pair_vectors_fwd, _pair_vectors_bwd)


def pair_geometry(system: System, neighbors: Neighbors, cutoff_A: float, rows: jax.Array | None = None):
    """Pair vectors (R, K, 3) of the centre atoms `rows` (default all), empty or padding slots replaced by a
    far-away dummy, and the pair mask (R, K)."""
    n = system.positions.shape[0]
    if rows is None:
        rows = centre = jnp.arange(n)
        idx, shifts = neighbors.idx, neighbors.shifts
    else:
        centre = jnp.minimum(rows, n - 1)
        idx, shifts = neighbors.idx[centre], neighbors.shifts[centre]
    vec = pair_vectors(system.positions, system.cell, centre, idx, shifts)
    valid = (idx < n) & (system.mask[centre] & (rows < n))[:, None] & system.mask[jnp.minimum(idx, n - 1)]
    far = jnp.array([2.0 * cutoff_A + 1.0, 0.0, 0.0], vec.dtype)
    return jnp.where(valid[..., None], vec, far), valid
