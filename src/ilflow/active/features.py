"""Last-layer gradient features of a GMNN ensemble (Zaverkin et al., Digital Discovery 1, 605 (2022)).

For every member, the gradient of the total energy with respect to the weights and bias of the readout's
last layer: with E = sum_i s_Zi (w . h_i / sqrt(H) + b) + shift_Zi, it is (sum_i s_Zi h_i / sqrt(H), sum_i s_Zi),
h_i the last hidden activations. Members are concatenated; an optional Gaussian random projection shortens
the vectors (distances kept on average, Johnson-Lindenstrauss).
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from ase import Atoms

from ilflow.potentials.gmnn import GMNNConfig, energy
from ilflow.potentials.neighbors import host_neighbors
from ilflow.potentials.system import make_system


def _padded(frames: Sequence[Atoms], config: GMNNConfig, n_pad: int, capacity: int):
    """Stacked systems and neighbour lists, all padded to the same sizes (one compilation for the pool)."""
    systems = [make_system(a, config.elements, n_pad) for a in frames]
    neighbors = [host_neighbors(a, config.cutoff_A, capacity=capacity, n_pad=n_pad) for a in frames]
    return (jax.tree.map(lambda *x: jnp.stack(x), *systems), jax.tree.map(lambda *x: jnp.stack(x), *neighbors))


def last_layer_features(config: GMNNConfig, params: dict, frames: Sequence[Atoms], batch: int = 16,
                        projection_dim: int | None = None, seed: int = 0) -> np.ndarray:
    """(n_frames, members x (H + 1)) gradient features, or (n_frames, projection_dim) projected."""
    def one(member, system, neighbors):
        grads = jax.grad(lambda last: energy({**member, "layers": member["layers"][:-1] + [last]}, config,
                                             system, neighbors))(member["layers"][-1])
        return jnp.concatenate([grads["w"][:, 0], grads["b"]])

    features = jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None, None)), in_axes=(None, 0, 0)))
    n_pad = max((len(a) for a in frames), default=1)
    capacity = max((int(host_neighbors(a, config.cutoff_A).idx.shape[1]) for a in frames), default=1)
    out = []
    for start in range(0, len(frames), batch):
        chunk = list(frames[start:start + batch])
        chunk += [chunk[-1]] * (batch - len(chunk))  # a full batch: one compilation
        values = np.asarray(features(params, *_padded(chunk, config, n_pad, capacity)))
        out.append(values.reshape(batch, -1)[:len(frames[start:start + batch])])
    result = np.concatenate(out) if out else np.zeros((0, 0))
    if projection_dim:
        rng = np.random.default_rng(seed)
        result = result @ rng.normal(size=(result.shape[1], projection_dim)) / np.sqrt(projection_dim)
    return result
