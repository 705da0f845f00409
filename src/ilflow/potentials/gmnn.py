"""Gaussian Moment Neural Network (GMNN; Zaverkin & Kästner 2020, 2021; paper eqns 1-6) as pure JAX functions.

energy(params, config, system, neighbors) -> eV. Descriptor and network run in `config.dtype`
(float32 by default); per-element scale/shift and the sum over atoms in float64.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ilflow.potentials.pairs import pair_geometry
from ilflow.potentials.system import Neighbors, System
from ilflow.runtime import ensure_configured

BLOCK_ATOMS = 4096  # atoms per block of the descriptor for large systems (bounds memory; remat beyond)


@dataclass(frozen=True)
class GMNNConfig:
    """Static hyperparameters (hashable: a jit static argument)."""

    elements: tuple[int, ...]  # atomic numbers the model knows, in species-index order
    n_basis: int = 7
    n_radial: int = 5
    r_min_A: float = 0.7
    r_max_A: float = 5.5
    hidden: tuple[int, ...] = (512, 512)
    dtype: str = "float32"  # descriptor and network; "float64" for everything in double

    @property
    def n_features(self) -> int:
        s = self.n_radial
        pairs, triples = s * (s + 1) // 2, s * (s + 1) * (s + 2) // 6
        return s + 3 * pairs + triples + 2 * pairs * s + s**3

    @property
    def cutoff_A(self) -> float:
        return self.r_max_A


def init_params(config: GMNNConfig, key: jax.Array) -> dict:
    """Random parameters: contraction coefficients U(-1, 1)/sqrt(n_basis), NTK-style dense layers, scale 1, shift 0."""
    ensure_configured()  # scale and shift in float64
    n_el = len(config.elements)
    dtype = jnp.dtype(config.dtype)
    keys = jax.random.split(key, len(config.hidden) + 2)
    beta = jax.random.uniform(keys[0], (n_el, n_el, config.n_radial, config.n_basis), dtype, -1.0, 1.0)
    beta = beta * float(1.0 / np.sqrt(config.n_basis))  # a Python float keeps `dtype` (a NumPy one promotes)
    sizes = (config.n_features, *config.hidden, 1)
    layers = [
        {"w": jax.random.normal(k, (a, b), dtype), "b": jnp.zeros((b,), dtype)}
        for k, a, b in zip(keys[1:], sizes[:-1], sizes[1:])
    ]
    return {"beta": beta, "layers": layers,
            "scale": jnp.ones((n_el,), jnp.float64), "shift": jnp.zeros((n_el,), jnp.float64)}


def radial_functions(params: dict, config: GMNNConfig, r: jax.Array, species_i: jax.Array,
                     species_j: jax.Array) -> jax.Array:
    """R_s(r_ij) = fc(r) sum_k beta[Z_i, Z_j, s, k] phi_k(r), shape (N, K, n_radial)."""
    b = config.n_basis**2 / config.r_max_A**2
    centres = config.r_min_A + (config.r_max_A - config.r_min_A) / config.n_basis * np.arange(config.n_basis)
    phi = (2.0 * b / np.pi) ** 0.25 * jnp.exp(-b * (r[..., None] - centres.astype(r.dtype)) ** 2)
    fc = jnp.where(r < config.r_max_A, 0.5 * (jnp.cos(np.pi * r / config.r_max_A) + 1.0), 0.0)
    # contract with every element's coefficients of atom i, then pick the neighbour's element: cheaper than
    # gathering a (S, B) block per pair
    beta = params["beta"].astype(r.dtype)
    per_element = jnp.einsum("nkb,nesb->nkes", phi * fc[..., None], beta[species_i])  # (N, K, E, S)
    return jnp.take_along_axis(per_element, species_j[:, :, None, None], axis=2)[:, :, 0]


def _triu2(s: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(s)


def _triu3(s: int) -> tuple[np.ndarray, ...]:
    idx = [(a, b, c) for a in range(s) for b in range(a, s) for c in range(b, s)]
    return tuple(np.array(x) for x in zip(*idx))


# The 20 distinct monomials of a unit vector up to degree 3: 1, u_a, u_a u_b (a <= b), u_a u_b u_c (a <= b <= c),
# and where every component of the symmetric tensors u (x) u and u (x) u (x) u sits among them.
_DEGREE2 = [(a, b) for a in range(3) for b in range(a, 3)]
_DEGREE3 = [(a, b, c) for a in range(3) for b in range(a, 3) for c in range(b, 3)]
_SLOT2 = np.array([[4 + _DEGREE2.index(tuple(sorted((a, b)))) for b in range(3)] for a in range(3)])
_SLOT3 = np.array([[[10 + _DEGREE3.index(tuple(sorted((a, b, c)))) for c in range(3)] for b in range(3)]
                   for a in range(3)])


def monomials(unit: jax.Array) -> jax.Array:
    """(..., 3) -> (..., 20): the distinct products of up to three components of `unit`."""
    d2 = np.array(_DEGREE2).T
    d3 = np.array(_DEGREE3).T
    return jnp.concatenate([jnp.ones_like(unit[..., :1]), unit, unit[..., d2[0]] * unit[..., d2[1]],
                            unit[..., d3[0]] * unit[..., d3[1]] * unit[..., d3[2]]], axis=-1)


def gaussian_moments(radial: jax.Array, unit: jax.Array, n_radial: int) -> jax.Array:
    """The rotation-invariant contractions of the moments Psi_L (L = 0..3), shape (N, n_features).

    Psi_L = sum_k R_s(r_k) u_k^(x L) is symmetric, so all four come from one contraction of the radial
    functions with the 20 distinct monomials per pair (about half the work of forming each tensor)."""
    psi = jnp.einsum("nks,nkm->nsm", radial, monomials(unit))  # (N, S, 20)
    psi0, psi1, psi2, psi3 = psi[..., 0], psi[..., 1:4], psi[..., _SLOT2], psi[..., _SLOT3]
    t2 = _triu2(n_radial)
    t3 = _triu3(n_radial)
    c11 = jnp.einsum("nsa,nta->nst", psi1, psi1)[:, t2[0], t2[1]]
    c22 = jnp.einsum("nsab,ntab->nst", psi2, psi2)[:, t2[0], t2[1]]
    c33 = jnp.einsum("nsabc,ntabc->nst", psi3, psi3)[:, t2[0], t2[1]]
    c222 = jnp.einsum("nsab,ntbc,nuca->nstu", psi2, psi2, psi2)[:, t3[0], t3[1], t3[2]]
    c112 = jnp.einsum("nsa,ntb,nuab->nstu", psi1, psi1, psi2)[:, t2[0], t2[1], :]
    c332 = jnp.einsum("nsabc,ntabd,nucd->nstu", psi3, psi3, psi2)[:, t2[0], t2[1], :]
    c321 = jnp.einsum("nsabc,ntab,nuc->nstu", psi3, psi2, psi1)
    n = radial.shape[0]
    return jnp.concatenate([psi0, c11, c22, c33, c222, c112.reshape(n, -1), c332.reshape(n, -1),
                            c321.reshape(n, -1)], axis=1)


def descriptor(params: dict, config: GMNNConfig, system: System, neighbors: Neighbors,
               rows: jax.Array | None = None) -> jax.Array:
    """Gaussian-moment features (R, n_features) in config.dtype of the centre atoms `rows` (default all)."""
    vec, valid = pair_geometry(system, neighbors, config.cutoff_A, rows)
    n = system.positions.shape[0]
    centre = jnp.arange(n) if rows is None else jnp.minimum(rows, n - 1)
    dtype = jnp.dtype(config.dtype)
    r = jnp.sqrt(jnp.sum(vec**2, axis=-1))
    unit = (vec / r[..., None]).astype(dtype)
    species_j = system.species[jnp.minimum(neighbors.idx[centre], n - 1)]
    radial = radial_functions(params, config, r.astype(dtype), system.species[centre], species_j)
    radial = jnp.where(valid[..., None], radial, 0.0)
    return gaussian_moments(radial, unit, config.n_radial)


def readout(params: dict, features: jax.Array) -> jax.Array:
    """Per-atom MLP with swish activations and NTK scaling (w / sqrt(fan_in)); output (N,) in the features' dtype."""
    x = features
    for k, layer in enumerate(params["layers"]):
        w, b = layer["w"].astype(x.dtype), layer["b"].astype(x.dtype)
        x = x @ w * float(1.0 / np.sqrt(w.shape[0])) + b
        if k < len(params["layers"]) - 1:
            x = jax.nn.silu(x)
    return x[:, 0]


def _block_energies(params: dict, config: GMNNConfig, system: System, neighbors: Neighbors,
                    rows: jax.Array | None) -> jax.Array:
    out = readout(params, descriptor(params, config, system, neighbors, rows)).astype(jnp.float64)
    n = system.positions.shape[0]
    centre = jnp.arange(n) if rows is None else jnp.minimum(rows, n - 1)
    species = system.species[centre]
    real = system.mask[centre] if rows is None else system.mask[centre] & (rows < n)
    return jnp.where(real, out * params["scale"][species] + params["shift"][species], 0.0)


def atomic_energies(params: dict, config: GMNNConfig, system: System, neighbors: Neighbors) -> jax.Array:
    """E_i = scale[Z_i] * MLP(G_i) + shift[Z_i] in float64, zero for padding atoms.

    Systems larger than BLOCK_ATOMS are evaluated block by block (lax.map) with rematerialisation, so that
    the per-pair intermediates of only one block are alive at a time: memory grows linearly with N.
    """
    n = system.positions.shape[0]
    if n <= BLOCK_ATOMS:
        return _block_energies(params, config, system, neighbors, None)
    n_blocks = -(-n // BLOCK_ATOMS)
    rows = jnp.arange(n_blocks * BLOCK_ATOMS).reshape(n_blocks, BLOCK_ATOMS)
    block = jax.checkpoint(lambda r: _block_energies(params, config, system, neighbors, r))
    return jax.lax.map(block, rows).reshape(-1)[:n]


def energy(params: dict, config: GMNNConfig, system: System, neighbors: Neighbors) -> jax.Array:
    """Total energy (eV)."""
    return jnp.sum(atomic_energies(params, config, system, neighbors))
