"""Last-layer gradient features of a GMNN ensemble (Zaverkin et al., Digital Discovery 1, 605 (2022)).

For every member, the gradient of the total energy with respect to the weights and bias of the readout's
last layer: with E = sum_i s_Zi (w . h_i / sqrt(H) + b) + shift_Zi, it is (sum_i s_Zi h_i / sqrt(H), sum_i s_Zi),
h_i the last hidden activations. Members are concatenated; an optional Gaussian random projection shortens
the vectors (distances kept on average, Johnson-Lindenstrauss).
"""

from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from ase import Atoms

from ilflow.potentials.gmnn import GMNNConfig, energy
from ilflow.potentials.neighbors import host_neighbors, padded_capacity, widen
from ilflow.potentials.system import Neighbors, make_system


def _padded(frames: Sequence[Atoms], lists: Sequence, config: GMNNConfig, n_pad: int, capacity: int):
    """Stacked systems and neighbour lists, all padded to the same sizes (one compilation for the pool)."""
    systems = [make_system(a, config.elements, n_pad) for a in frames]
    neighbors = [Neighbors(*widen(nb, capacity, n_pad)) for nb in lists]
    return (jax.tree.map(lambda *x: jnp.stack(x), *systems), jax.tree.map(lambda *x: jnp.stack(x), *neighbors))


def _member_features(member: dict, config: GMNNConfig, system, neighbors) -> jax.Array:
    grads = jax.grad(lambda last: energy({**member, "layers": member["layers"][:-1] + [last]}, config,
                                         system, neighbors))(member["layers"][-1])
    return jnp.concatenate([grads["w"][:, 0], grads["b"]])


@partial(jax.jit, static_argnums=1)
def _features(params: dict, config: GMNNConfig, systems, neighbors) -> jax.Array:
    """(frames, members, H + 1) for stacked systems."""
    per_member = jax.vmap(_member_features, in_axes=(0, None, None, None))
    return jax.vmap(per_member, in_axes=(None, None, 0, 0))(params, config, systems, neighbors)


def last_layer_features(config: GMNNConfig, params: dict, frames: Sequence[Atoms], batch: int = 16,
                        projection_dim: int | None = None, seed: int = 0) -> np.ndarray:
    """(n_frames, members x (H + 1)) gradient features, or (n_frames, projection_dim) projected."""
    n_pad = max((len(a) for a in frames), default=1)
    lists = [host_neighbors(a, config.cutoff_A, n_pad=n_pad) for a in frames]  # built once per frame
    # capacity rounded up to a multiple of 8, so that later pools mostly reuse the compiled function
    capacity = padded_capacity(max((int(nb.idx.shape[1]) for nb in lists), default=1))
    out = []
    for start in range(0, len(frames), batch):
        chunk = list(range(start, min(start + batch, len(frames))))
        chunk += [chunk[-1]] * (batch - len(chunk))  # a full batch: one compilation
        values = np.asarray(_features(params, config, *_padded([frames[k] for k in chunk], [lists[k] for k in chunk],
                                                               config, n_pad, capacity)))
        out.append(values.reshape(batch, -1)[:len(frames[start:start + batch])])
    result = np.concatenate(out) if out else np.zeros((0, 0))
    if projection_dim:
        rng = np.random.default_rng(seed)
        result = result @ rng.normal(size=(result.shape[1], projection_dim)) / np.sqrt(projection_dim)
    return result
