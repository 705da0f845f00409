"""Grimme's DFT-D3 dispersion with Becke-Johnson (rational) damping, optional three-body (ATM) term.

Pure JAX: `d3_energy(tables, config, system, neighbors) -> eV` has the common potential signature, so
forces and stress come from `forces.energy_forces_stress` like for GMNN. Atomic units inside (bohr,
hartree), eV and Å outside. Formulas (Grimme et al., J. Chem. Phys. 132, 154104 (2010); J. Comput. Chem.
32, 1456 (2011)) as implemented by simple-dftd3 1.7.0, which the tests use as the reference:

  CN_i  = sum_j 1 / (1 + exp(-16 ((Rcov_i + Rcov_j) / r_ij - 1)))            (Rcov scaled by 4/3)
  C6_ij = sum_ab L_ia L_jb C6ref_ij,ab,  L_ia ~ exp(-4 (CN_i - CNref_ia)^2)  (normalised over a)
  E2    = -1/2 sum_ij C6_ij [s6 / (r^6 + R0^6) + s8 Q_ij / (r^8 + R0^8)],  Q_ij = 3 r4r2_i r4r2_j,
          R0_ij = a1 sqrt(Q_ij) + a2
  E3    = 1/6 sum_ijk s9 sqrt(|C6_ij C6_ik C6_jk|) f(r) (3 cos_i cos_j cos_k + 1) / (r_ij r_ik r_jk)^3,
          f = 1 / (1 + 6 (R0_ijk / (r_ij r_ik r_jk))^(16/3)),  R0_ijk = prod (4/3 rvdw)   (zero damping)

Sums run over periodic images within hard cutoffs (two-body, CN and three-body each its own), or with
an optional smooth switch x^3 (10 - 15 x + 6 x^2), x = (cutoff - r) / width, on the two-body term.
"""

from dataclasses import dataclass
from typing import NamedTuple
from functools import lru_cache
from importlib import resources

import jax
import jax.numpy as jnp
import numpy as np

from ilflow import units
from ilflow.config.dispersion import FUNCTIONALS
from ilflow.potentials.pairs import pair_geometry
from ilflow.potentials.neighbors import host_neighbors
from ilflow.potentials.system import Neighbors, System
from ilflow.runtime import ensure_configured

BLOCK_ATOMS = 1024  # centre atoms per block of the pair terms (bounds the memory of long pair lists)
BLOCK_ATOMS_3 = 32  # centre atoms per block of the three-body term (K^2 triples each)
DENSE_C6_ATOMS = 2048  # up to this many atoms C6 of all atom pairs is one (N, N) matrix


class D3Neighbors(NamedTuple):
    """Neighbour lists of D3: `pairs` a half list (each pair once) reaching max(two-body, CN cutoff),
    `triples` a full list within the three-body cutoff, and optionally `cn` a half list within a CN cutoff
    shorter than the two-body one: the written-out gradient then runs its two coordination-number passes over it
    (GFN1's 13.2 Å against 20 Å: a third of the pairs). `host_d3_neighbors` and the calculators make them."""

    pairs: Neighbors
    triples: Neighbors | None = None
    cn: Neighbors | None = None


@dataclass(frozen=True)
class D3Config:
    """Static settings: damping parameters, the elements present, cutoffs (Å)."""

    elements: tuple[int, ...]
    s6: float = 1.0
    s8: float = 1.5
    a1: float = 0.37
    a2_bohr: float = 4.10
    s9: float = 0.0  # 1.0 switches the three-body term on
    functional: str = "b97-3c"
    cutoff_A: float = 20.0  # two-body
    cn_cutoff_A: float = 20.0
    three_body_cutoff_A: float = 8.0
    switch_width_A: float = 0.0  # smooth switch of the two-body term over [cutoff - width, cutoff]
    cn_switch_width_A: float = 0.0  # the same for the coordination numbers (simple-dftd3 has none)
    tail_correction: bool = False  # add the homogeneous-liquid r^-6 and r^-8 tails beyond the two-body cutoff

    @property
    def pair_cutoff_A(self) -> float:
        """Radius of the pair list (two-body and CN terms)."""
        return max(self.cutoff_A, self.cn_cutoff_A)

    @property
    def separate_cn_list(self) -> bool:
        """Whether the coordination numbers get their own, shorter list (worth it below 0.8 x the two-body
        cutoff: under half the pairs)."""
        return self.cn_cutoff_A < 0.8 * self.cutoff_A


def host_d3_neighbors(atoms, config: D3Config) -> D3Neighbors:
    """The lists of one ASE Atoms (NumPy/ASE; for single frames, labels and tests), their capacities bucketed: a
    data set's frames then compile a handful of shapes, not one each (a 26 Å list of 120 atoms: ~10 s apiece)."""
    return D3Neighbors(host_neighbors(atoms, config.pair_cutoff_A, half=True, bucketed=True),
                       host_neighbors(atoms, config.three_body_cutoff_A, bucketed=True) if config.s9 else None,
                       host_neighbors(atoms, config.cn_cutoff_A, half=True, bucketed=True)
                       if config.separate_cn_list else None)


def d3_config(elements, functional: str = "b97-3c", three_body: bool = False, **overrides) -> D3Config:
    """Parameters by functional name (or explicit s6/s8/a1/a2_bohr in `overrides`)."""
    key = functional.lower().replace("_", "-")
    key = "b97-3c" if key in ("b973c", "b97-3c") else key
    if key not in FUNCTIONALS and not {"s8", "a1", "a2_bohr"} <= set(overrides):
        raise ValueError(f"no D3(BJ) parameters for {functional!r}; known: {', '.join(FUNCTIONALS)}, "
                         "or give s6, s8, a1, a2_bohr")
    s6, s8, a1, a2 = FUNCTIONALS.get(key, (1.0, 0.0, 0.0, 0.0))
    settings = dict(s6=s6, s8=s8, a1=a1, a2_bohr=a2, s9=1.0 if three_body else 0.0, functional=key)
    settings.update(overrides)
    return D3Config(elements=tuple(int(z) for z in elements), **settings)


@lru_cache(maxsize=1)
def _reference() -> dict[str, np.ndarray]:
    with resources.files("ilflow.potentials").joinpath("data/d3_reference.npz").open("rb") as fh:
        data = np.load(fh)
        return {k: np.asarray(data[k]) for k in data.files}


def d3_tables(config: D3Config) -> dict:
    """Reference data of the config's elements, indexed by species index (the 'params' of d3_energy)."""
    ensure_configured()  # the tables in float64
    ref = _reference()
    z = np.asarray(config.elements)
    if z.max(initial=0) > 94:
        raise ValueError("D3 reference data cover elements 1-94")
    return {"c6ref": jnp.asarray(ref["c6ref"][np.ix_(z, z)]), "cnref": jnp.asarray(ref["cnref"][z]),
            "rcov": jnp.asarray(ref["rcov"][z]), "r4r2": jnp.asarray(ref["r4r2"][z]),
            "rvdw": jnp.asarray(ref["rvdw"][np.ix_(z, z)])}


def _pairs(system: System, neighbors: Neighbors, cutoff_A: float, rows=None):
    """Pair distances (bohr), vectors (bohr), validity, and neighbour indices of centre atoms `rows` (all)."""
    vec, valid = pair_geometry(system, neighbors, cutoff_A, rows)
    r = jnp.sqrt(jnp.sum(vec**2, axis=-1))
    n = system.positions.shape[0]
    j = jnp.minimum(neighbors.idx if rows is None else neighbors.idx[jnp.minimum(rows, n - 1)], n - 1)
    return r / units.BOHR_A, vec / units.BOHR_A, valid, j


def _cn_of_pairs(tables, config, system, rows, r, vec, valid, j):
    """Contribution (N,) of the pairs of centre atoms `rows` to every atom's coordination number."""
    n = system.positions.shape[0]
    centre = jnp.minimum(rows, n - 1)
    rc = tables["rcov"][system.species[centre]][:, None] + tables["rcov"][system.species[j]]
    inside = valid & (r <= config.cn_cutoff_A / units.BOHR_A)
    safe_r = jnp.where(inside, r, 1.0)
    count = 1.0 / (1.0 + jnp.exp(-16.0 * (rc / safe_r - 1.0)))
    count = jnp.where(inside, count * _switch(safe_r, config.cn_cutoff_A, config.cn_switch_width_A), 0.0)
    return jnp.zeros(n, count.dtype).at[centre].add(jnp.sum(count, axis=1)).at[j].add(count)


def reference_weights(tables: dict, species: jax.Array, cn: jax.Array) -> jax.Array:
    """Normalised Gaussian weights L (N, 5) of the reference systems (shifted by the smallest exponent)."""
    cnref = tables["cnref"][species]
    present = cnref != -1.0
    d2 = jnp.where(present, (cn[:, None] - cnref) ** 2, jnp.inf)
    w = jnp.where(present, jnp.exp(-4.0 * (d2 - jnp.min(d2, axis=1, keepdims=True))), 0.0)
    return w / jnp.sum(w, axis=1, keepdims=True)


def _c6(tables, weights_i, species_i, weights_j, species_j):
    """C6 of pairs: weights_i (..., 5) and species_i broadcast against weights_j (..., 5), species_j."""
    block = tables["c6ref"][species_i, species_j]  # (..., 5, 5)
    return jnp.einsum("...a,...ab,...b->...", weights_i, block, weights_j)


def pair_c6(tables: dict, species: jax.Array, weights: jax.Array, dweights: jax.Array | None = None):
    """C6_ij = L_i^T C6ref[Z_i, Z_j] L_j as a function (centre (B,), j (B, K)) -> (C6 (B, K),); with `dweights`
    (dL/dCN, (N, 5)) -> (C6, dC6_ij/dCN_i, dC6_ij/dCN_j).

    Each atom's weights are contracted with its rows of the reference first, (N, E, 5). Up to DENSE_C6_ATOMS
    atoms, C6 of all atom pairs is then one (N, N) matrix product and a pair needs one number (the images of
    a pair share it); beyond, a pair contracts 5 + 5 numbers."""
    block = tables["c6ref"][species]  # (N, E, 5, 5): atom i's rows of the reference C6
    halves = [jnp.einsum("na,nfab->nfb", w, block) for w in ([weights] if dweights is None else [weights, dweights])]
    n, n_el = halves[0].shape[:2]
    if n <= DENSE_C6_ATOMS:
        onehot = jax.nn.one_hot(species, n_el, dtype=weights.dtype)
        matrices = [jnp.einsum("nfb,mb,mf->nm", h, weights, onehot) for h in halves]  # d/dCN of the row atom
        if dweights is not None:
            matrices.append(matrices[1].T)  # d/dCN of the column atom
        return lambda centre, j: tuple(m[centre[:, None], j] for m in matrices)

    def per_pair(centre, j):
        rows = [h[centre[:, None], species[j]] for h in halves]
        out = [jnp.sum(h * weights[j], -1) for h in rows]
        return tuple(out) if dweights is None else (*out, jnp.sum(rows[0] * dweights[j], -1))

    return per_pair


def switch_and_slope(r_bohr, cutoff_A: float, width_A: float):
    """The smooth cutoff: 1 inside cutoff - width, 0 at the cutoff, C2-smooth in between (x^3 (10 - 15 x + 6 x^2),
    x = (cutoff - r) / width), and its derivative d/dr (1/bohr)."""
    if width_A <= 0.0:
        return 1.0, 0.0
    w = width_A / units.BOHR_A
    x = jnp.clip((cutoff_A / units.BOHR_A - r_bohr) / w, 0.0, 1.0)
    return x**3 * (10.0 - 15.0 * x + 6.0 * x**2), -30.0 * x**2 * (1.0 - x) ** 2 / w


def _switch(r_bohr, cutoff_A: float, width_A: float):
    return switch_and_slope(r_bohr, cutoff_A, width_A)[0]


def d3_energy(tables: dict, config: D3Config, system: System, neighbors: D3Neighbors) -> jax.Array:
    """Dispersion energy (eV) within the config's cutoffs; `neighbors.pairs` is a half list."""
    n = system.positions.shape[0]
    single = n <= BLOCK_ATOMS  # one block: the pair geometry is computed once for CN and two-body terms
    pairs = (lambda rows, p=_pairs(system, neighbors.pairs, config.pair_cutoff_A): p) if single \
        else (lambda rows: _pairs(system, neighbors.pairs, config.pair_cutoff_A, rows))
    cn = _sum_over_blocks(lambda rows: _cn_of_pairs(tables, config, system, rows, *pairs(rows)), n)
    weights = reference_weights(tables, system.species, cn)
    c6_of = pair_c6(tables, system.species, weights)
    q_table = 3.0 * tables["r4r2"][:, None] * tables["r4r2"][None, :]
    r0_table = config.a1 * jnp.sqrt(q_table) + config.a2_bohr
    cut2 = config.cutoff_A / units.BOHR_A

    def two_body(rows):
        r, _, valid, j = pairs(rows)
        centre = jnp.minimum(rows, n - 1)
        si, sj = system.species[centre][:, None], system.species[j]
        q, r0 = q_table[si, sj], r0_table[si, sj]
        inside = valid & (r <= cut2)
        rs = jnp.where(inside, r, 1.0)
        pair = -c6_of(centre, j)[0] * (config.s6 / (rs**6 + r0**6) + config.s8 * q / (rs**8 + r0**8))
        return jnp.sum(jnp.where(inside, pair * _switch(rs, config.cutoff_A, config.switch_width_A), 0.0))

    energy = _sum_over_blocks(two_body, n)
    if config.tail_correction:
        energy = energy + tail_energy(tables, config, system, weights)
    if config.s9:
        if neighbors.triples is None:
            raise ValueError("the three-body term needs D3Neighbors.triples (a list within three_body_cutoff_A)")
        three = lambda rows: _three_body(tables, config, weights, system, neighbors.triples, rows)  # noqa: E731
        energy = energy + _sum_over_blocks(three, n, BLOCK_ATOMS_3)
    return energy * units.HARTREE_EV


def _tail_integrals(config: D3Config) -> tuple[float, float]:
    """I_p = integral of 4 pi r^2 (1 - switch(r)) r^-p dr from the start of the switch to infinity (bohr^(3-p)), p = 6, 8."""
    rc = config.cutoff_A / units.BOHR_A
    w = config.switch_width_A / units.BOHR_A
    start = rc - w
    out = []
    for p in (6, 8):
        beyond = 4.0 * np.pi / ((p - 3) * rc ** (p - 3))
        if w > 0:
            nodes, weights = np.polynomial.legendre.leggauss(32)
            r = start + (nodes + 1.0) * w / 2.0
            x = np.clip((rc - r) / w, 0.0, 1.0)
            off = 1.0 - x**3 * (10.0 - 15.0 * x + 6.0 * x**2)
            beyond += float(np.sum(weights * w / 2.0 * 4.0 * np.pi * r**2 * off * r ** (-p)))
        out.append(beyond)
    return out[0], out[1]


def tail_energy(tables: dict, config: D3Config, system: System, weights: jax.Array) -> jax.Array:
    """Dispersion beyond the cutoff for a homogeneous liquid (Hartree):
    E_tail = -(1 / 2V) sum_i sum_j [s6 C6_ij I_6 + s8 C8_ij I_8] with every atom j spread uniformly over the box.

    Pressure: the standard virial tail is P_p = (p/3) E_tail,p / V for an r^-p term (2 E/V for r^-6), not the
    E/V that d(E_tail)/dV at fixed cutoff gives (it misses the pairs that cross the cutoff as the box is
    scaled). Each term is therefore written as E_p(V0) (V0 / V)^(p/3) with V0 = V held constant, which has the
    right value and the right strain derivative. Damping is negligible beyond the cutoff."""
    i6, i8 = _tail_integrals(config)
    n_el = len(config.elements)
    onehot = jax.nn.one_hot(system.species, n_el, dtype=weights.dtype) * system.mask[:, None]
    per_element = jnp.einsum("ne,na->ea", onehot, weights)  # (E, 5): sum of reference weights per element
    c6_sum = jnp.einsum("ea,efab,fb->ef", per_element, tables["c6ref"], per_element)  # sum over atom pairs
    q = 3.0 * tables["r4r2"][:, None] * tables["r4r2"][None, :]
    volume = jnp.abs(jnp.linalg.det(system.cell)) / units.BOHR_A**3
    fixed = jax.lax.stop_gradient(volume)
    e6 = -0.5 / fixed * jnp.sum(c6_sum) * config.s6 * i6
    e8 = -0.5 / fixed * jnp.sum(c6_sum * q) * config.s8 * i8
    return e6 * (fixed / volume) ** 2 + e8 * (fixed / volume) ** (8.0 / 3.0)


def _three_body(tables, config, weights, system, neighbors, rows):
    """ATM energy of the triangles (i, j, k) with i in `rows`, 1/6 per ordered pair of distinct sites (j, k)."""
    n = system.positions.shape[0]
    cut3 = config.three_body_cutoff_A / units.BOHR_A
    r, vec, valid, j = _pairs(system, neighbors, config.three_body_cutoff_A, rows)
    centre = jnp.minimum(rows, n - 1)
    near = valid & (r <= cut3)
    both = near[:, :, None] & near[:, None, :]
    rjk2 = jnp.sum((vec[:, None, :, :] - vec[:, :, None, :]) ** 2, axis=-1)  # (B, K, K)
    pre = both & (rjk2 > 2.22e-16)  # three distinct sites
    rjk = jnp.sqrt(jnp.where(pre, rjk2, 1.0))
    use = pre & (rjk <= cut3)
    si, sj = system.species[centre], system.species[j]
    wi, wj = weights[centre], weights[j]
    c6ij = _c6(tables, wi[:, None, :], si[:, None], wj, sj)  # (B, K)
    c6jk = _c6(tables, wj[:, :, None, :], sj[:, :, None], wj[:, None, :, :], sj[:, None, :])  # (B, K, K)
    c9 = -config.s9 * jnp.sqrt(jnp.abs(c6ij[:, :, None] * c6ij[:, None, :] * c6jk))
    rvdw = tables["rvdw"]
    r0 = (4.0 / 3.0) ** 3 * (rvdw[si[:, None, None], sj[:, :, None]] * rvdw[si[:, None, None], sj[:, None, :]]
                             * rvdw[sj[:, :, None], sj[:, None, :]])
    rij = jnp.where(near, r, 1.0)
    a, b, c = rij[:, :, None] ** 2, rij[:, None, :] ** 2, jnp.where(use, rjk, 1.0) ** 2
    r1 = jnp.sqrt(a * b * c)
    ang = 0.375 * (a + c - b) * (a - c + b) * (-a + c + b) / r1**5 + 1.0 / r1**3
    damp = 1.0 / (1.0 + 6.0 * (r0 / r1) ** (16.0 / 3.0))
    return -jnp.sum(jnp.where(use, c9 * damp * ang, 0.0)) / 6.0


def _sum_over_blocks(fn, n: int, size: int | None = None) -> jax.Array:
    """Sum of fn(rows) over all atoms, in blocks of `size` (default BLOCK_ATOMS) centre atoms, rematerialised,
    when N is larger."""
    size = BLOCK_ATOMS if size is None else size
    if n <= size:
        return fn(jnp.arange(n))
    n_blocks = -(-n // size)
    rows = jnp.arange(n_blocks * size).reshape(n_blocks, size)
    return jnp.sum(jax.lax.map(jax.checkpoint(fn), rows), axis=0)
