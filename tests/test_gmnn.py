"""GMNN physics: invariances, forces and stress against finite differences, supercells, smooth cutoff."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.build import make_supercell
from geometry import VOIGT_PAIRS, strain_derivative_stress
from scipy.spatial.transform import Rotation

from ilflow.potentials.forces import energy_forces_stress
from ilflow.potentials.gmnn import GMNNConfig, energy, init_params
from ilflow.potentials.model_io import load_model, save_model
from ilflow.potentials.neighbors import host_neighbors
from ilflow.potentials.system import make_system

CONFIG = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(32, 32), dtype="float64")


@pytest.fixture(scope="module")
def params():
    p = init_params(CONFIG, jax.random.PRNGKey(1))
    return {**p, "scale": jnp.linspace(0.5, 1.5, 5), "shift": jnp.linspace(-3.0, -1.0, 5)}


def _evaluate(params, atoms, config=CONFIG):
    system = make_system(atoms, config.elements)
    neighbors = host_neighbors(atoms, config.cutoff_A)
    return _efs(config)(params, system, neighbors)


@partial(jax.jit, static_argnums=0)
def _efs_jit(config, params, system, neighbors):
    return energy_forces_stress(lambda p, s, n: energy(p, config, s, n), params, system, neighbors)


def _efs(config):
    return partial(_efs_jit, config)


def _energy(params, atoms, config=CONFIG) -> float:
    return float(_evaluate(params, atoms, config).energy)


def _small_triclinic():
    """A cell with faces 4-5 Å apart: smaller than twice the 5.5 Å cutoff, so atoms see their own images."""
    rng = np.random.default_rng(4)
    cell = np.array([[5.2, 0.0, 0.0], [1.3, 4.8, 0.0], [-0.9, 0.7, 5.0]])
    numbers = [6, 1, 1, 7, 9, 5, 6, 1]
    return Atoms(numbers, scaled_positions=rng.random((len(numbers), 3)), cell=cell, pbc=True)


def test_invariance_to_rotation_translation_and_permutation(params, box_2_pairs):
    atoms = box_2_pairs
    ref = _evaluate(params, atoms)
    rot = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ rot.T, scale_atoms=True)
    out = _evaluate(params, rotated)
    assert float(out.energy) == pytest.approx(float(ref.energy), abs=1e-9)
    assert np.allclose(out.forces, np.asarray(ref.forces) @ rot.T, atol=1e-9)
    assert np.allclose(out.stress, rot @ np.asarray(ref.stress) @ rot.T, atol=1e-11)
    moved = atoms.copy()
    moved.positions += [1.7, -3.2, 0.4]
    assert _energy(params, moved) == pytest.approx(float(ref.energy), abs=1e-9)
    perm = np.random.default_rng(0).permutation(len(atoms))
    out = _evaluate(params, atoms[perm])
    assert float(out.energy) == pytest.approx(float(ref.energy), abs=1e-9)
    assert np.allclose(out.forces, np.asarray(ref.forces)[perm], atol=1e-10)


def test_forces_equal_central_differences(params, box_2_pairs):
    atoms = box_2_pairs
    forces = np.asarray(_evaluate(params, atoms).forces)
    h = 1e-4
    for i, c in [(0, 0), (17, 1), (59, 2), (31, 0)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, c] += h
        minus.positions[i, c] -= h
        fd = -(_energy(params, plus) - _energy(params, minus)) / (2 * h)
        assert forces[i, c] == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_stress_equals_strain_derivative_in_a_small_triclinic_cell(params):
    atoms = _small_triclinic()
    stress = np.asarray(_evaluate(params, atoms).stress)
    fd = strain_derivative_stress(lambda a: _energy(params, a), atoms, h=1e-5)
    for k, (i, j) in enumerate(VOIGT_PAIRS):
        assert stress[i, j] == pytest.approx(fd[k], rel=1e-5, abs=1e-9), (i, j)
    assert np.allclose(stress, stress.T, atol=1e-12)


def test_supercell_has_the_same_energy_per_atom(params):
    atoms = _small_triclinic()
    e1 = _energy(params, atoms) / len(atoms)
    for transform in (np.diag([2, 1, 1]), [[1, 1, 0], [0, 1, 0], [0, 0, 2]]):
        big = make_supercell(atoms, transform)
        assert _energy(params, big) / len(big) == pytest.approx(e1, abs=1e-10)
        stress_small = np.asarray(_evaluate(params, atoms).stress)
        assert np.allclose(_evaluate(params, big).stress, stress_small, atol=1e-10)


def test_energy_is_smooth_where_a_neighbour_crosses_the_cutoff(params):
    """E and dE/dr are continuous at r_max: both go to zero there (cosine cutoff)."""
    def dimer(r):
        return Atoms("CN", positions=[[0, 0, 0], [r, 0, 0]], cell=[30, 30, 30], pbc=True)

    rc = CONFIG.r_max_A
    e_far = _energy(params, dimer(rc + 0.5))  # no pair: only the shifts
    h = 1e-4
    for d in (1e-2, 1e-3):
        inside = _energy(params, dimer(rc - d)) - e_far
        slope = (_energy(params, dimer(rc - d + h)) - _energy(params, dimer(rc - d - h))) / (2 * h)
        assert abs(inside) < 50 * d**2 and abs(slope) < 50 * d  # quadratic approach, slope -> 0
    assert _energy(params, dimer(rc + 1e-6)) == pytest.approx(e_far, abs=1e-14)


def test_padding_atoms_change_nothing(params, box_2_pairs):
    atoms = box_2_pairs
    ref = _evaluate(params, atoms)
    system = make_system(atoms, CONFIG.elements, n_pad=len(atoms) + 7)
    neighbors = host_neighbors(atoms, CONFIG.cutoff_A, n_pad=len(atoms) + 7)
    out = _efs(CONFIG)(params, system, neighbors)
    assert float(out.energy) == pytest.approx(float(ref.energy), abs=1e-10)
    assert np.allclose(out.forces[: len(atoms)], ref.forces, atol=1e-12) and np.all(out.forces[len(atoms):] == 0)


def test_float32_network_is_close_to_float64(params, box_2_pairs):
    config32 = GMNNConfig(elements=CONFIG.elements, hidden=(32, 32), dtype="float32")
    params32 = jax.tree.map(lambda x: x.astype(jnp.float32) if x.dtype == jnp.float64 and x.ndim > 1 else x, params)
    params32["layers"] = [{k: v.astype(jnp.float32) for k, v in layer.items()} for layer in params["layers"]]
    out64, out32 = _evaluate(params, box_2_pairs), _evaluate(params32, box_2_pairs, config32)
    assert out32.energy.dtype == jnp.float64
    assert float(out32.energy) == pytest.approx(float(out64.energy), abs=1e-4 * len(box_2_pairs))
    assert np.abs(np.asarray(out32.forces) - np.asarray(out64.forces)).max() < 1e-3


def test_a_float32_model_computes_descriptor_and_network_in_float32(box_2_pairs, tmp_path):
    """Every matrix product and exponential of a float32 model is float32 (a NumPy float64 scalar in the
    NTK scaling or the initial coefficients once promoted them all to float64); only pair vectors, the
    per-element scale and shift and the sums stay float64. A model file with float64 coefficients (as
    written by earlier versions) loads as float32."""
    config32 = GMNNConfig(elements=CONFIG.elements, hidden=(32, 32), dtype="float32")
    params32 = init_params(config32, jax.random.PRNGKey(2))
    assert {leaf.dtype for leaf in jax.tree.leaves([params32["beta"], params32["layers"]])} == {jnp.dtype("float32")}
    system = make_system(box_2_pairs, config32.elements)
    neighbors = host_neighbors(box_2_pairs, config32.cutoff_A)
    jaxpr = jax.make_jaxpr(partial(_efs_jit, config32))(params32, system, neighbors)
    eqns = jaxpr.eqns[0].params["jaxpr"].eqns
    # the strain deformation of positions and cell ((N, 3) @ (3, 3)) and its (3, 3) gradient stay float64
    heavy = [eqn for eqn in eqns if eqn.primitive.name == "exp" or (
        eqn.primitive.name == "dot_general" and (3, 3) not in (eqn.invars[1].aval.shape, eqn.outvars[0].aval.shape))]
    assert len(heavy) > 10 and all(v.aval.dtype == jnp.float32 for eqn in heavy for v in eqn.outvars), [
        str(eqn) for eqn in heavy if eqn.outvars[0].aval.dtype != jnp.float32]

    legacy = {**params32, "beta": params32["beta"].astype(jnp.float64)[None],
              "layers": [{k: v[None] for k, v in layer.items()} for layer in params32["layers"]],
              "scale": params32["scale"][None], "shift": params32["shift"][None]}
    save_model(tmp_path / "m", config32, legacy)
    _, loaded, _ = load_model(tmp_path / "m")
    assert loaded["beta"].dtype == jnp.float32 and loaded["scale"].dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(loaded["beta"][0]), np.asarray(params32["beta"]))


def test_moments_equal_the_explicit_tensor_contractions():
    """Psi_L built from the 20 distinct monomials = the full tensors sum_k R_s u^(x L) contracted as in
    Zaverkin & Kästner 2020 (written out here with numpy, one contraction per feature block)."""
    from ilflow.potentials.gmnn import gaussian_moments

    rng = np.random.default_rng(3)
    s = 3
    radial = rng.normal(size=(4, 6, s))
    unit = rng.normal(size=(4, 6, 3))
    unit /= np.linalg.norm(unit, axis=-1, keepdims=True)
    ours = np.asarray(gaussian_moments(jnp.asarray(radial), jnp.asarray(unit), s))
    p0 = radial.sum(1)
    p1 = np.einsum("nks,nka->nsa", radial, unit)
    p2 = np.einsum("nks,nka,nkb->nsab", radial, unit, unit)
    p3 = np.einsum("nks,nka,nkb,nkc->nsabc", radial, unit, unit, unit)
    pairs = [(a, b) for a in range(s) for b in range(a, s)]
    triples = [(a, b, c) for a in range(s) for b in range(a, s) for c in range(b, s)]
    expected = np.concatenate([
        p0,
        np.stack([np.einsum("na,na->n", p1[:, a], p1[:, b]) for a, b in pairs], 1),
        np.stack([np.einsum("nij,nij->n", p2[:, a], p2[:, b]) for a, b in pairs], 1),
        np.stack([np.einsum("nijk,nijk->n", p3[:, a], p3[:, b]) for a, b in pairs], 1),
        np.stack([np.einsum("nij,njk,nki->n", p2[:, a], p2[:, b], p2[:, c]) for a, b, c in triples], 1),
        np.stack([np.einsum("ni,nj,nij->n", p1[:, a], p1[:, b], p2[:, c]) for a, b in pairs for c in range(s)], 1),
        np.stack([np.einsum("nijk,nijl,nkl->n", p3[:, a], p3[:, b], p2[:, c]) for a, b in pairs for c in range(s)], 1),
        np.stack([np.einsum("nijk,nij,nk->n", p3[:, a], p2[:, b], p1[:, c])
                  for a in range(s) for b in range(s) for c in range(s)], 1),
    ], axis=1)
    assert ours.shape == expected.shape == (4, GMNNConfig(elements=(1,), n_radial=s).n_features)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


def test_blocked_evaluation_of_large_systems_gives_the_same_numbers(params, box_2_pairs, monkeypatch):
    """Systems above BLOCK_ATOMS go block by block (lax.map + rematerialisation): same energy, forces, stress."""
    import ilflow.potentials.gmnn as gmnn

    whole = _evaluate(params, box_2_pairs)
    monkeypatch.setattr(gmnn, "BLOCK_ATOMS", 16)  # 60 atoms -> 4 blocks, the last one partly padding
    system = make_system(box_2_pairs, CONFIG.elements)
    neighbors = host_neighbors(box_2_pairs, CONFIG.cutoff_A)
    blocked = jax.jit(lambda p, s, n: energy_forces_stress(lambda q, t, m: energy(q, CONFIG, t, m), p, s, n))(
        params, system, neighbors)
    assert float(blocked.energy) == pytest.approx(float(whole.energy), abs=1e-9)
    np.testing.assert_allclose(blocked.forces, whole.forces, atol=1e-9)
    np.testing.assert_allclose(blocked.stress, whole.stress, atol=1e-11)
