"""D3(BJ) against the independent reference implementation simple-dftd3 (`dftd3` package), same parameters
and cutoffs, smoothing off; with smoothing on, forces and stress against finite differences of our energy. `ours`
is the production path (the written-out gradient without a three-body term, autodiff with one); the written-out
gradient is also checked against autodiff of the energy with every option on."""

from functools import partial

import jax
import numpy as np
import pytest
from ase import Atoms
from ase.units import Bohr, Hartree
from dftd3.interface import DispersionModel, RationalDampingParam
from geometry import strain_derivative_stress

from conftest import BF4, BMIM
from ilflow.potentials.d3 import d3_config, d3_energy, d3_tables, host_d3_neighbors
from ilflow.potentials.d3_forces import d3_energy_forces_stress, d3_two_body_forces
from ilflow.potentials.forces import energy_forces_stress, voigt
from ilflow.potentials.system import make_system
from ilflow.system import molecule_from_smiles


def reference(atoms: Atoms, config) -> tuple[float, np.ndarray, np.ndarray | None]:
    """simple-dftd3: energy (eV), forces (eV/Å), stress (eV/Å^3, Voigt) with our cutoffs (hard)."""
    periodic = bool(atoms.pbc.all())
    model = DispersionModel(atoms.numbers, atoms.positions / Bohr, atoms.cell.array / Bohr if periodic else None,
                            np.array([True] * 3) if periodic else None)
    model.set_realspace_cutoff(config.cutoff_A / Bohr, config.three_body_cutoff_A / Bohr, config.cn_cutoff_A / Bohr)
    param = RationalDampingParam(s6=config.s6, s8=config.s8, a1=config.a1, a2=config.a2_bohr, s9=config.s9, alp=14.0)
    res = model.get_dispersion(param, grad=True)
    stress = None
    if periodic:
        stress = res["virial"].flat[[0, 4, 8, 5, 2, 1]] * Hartree / atoms.get_volume()
    return float(res["energy"]) * Hartree, -res["gradient"] * Hartree / Bohr, stress


@partial(jax.jit, static_argnums=0)
def _ours(config, tables, system, neighbors):
    return d3_energy_forces_stress(tables, config, system, neighbors)


def ours(atoms: Atoms, config):
    out = _ours(config, d3_tables(config), make_system(atoms, config.elements), host_d3_neighbors(atoms, config))
    return float(out.energy), np.asarray(out.forces), np.asarray(voigt(out.stress))


def compare(atoms: Atoms, config):
    e_ref, f_ref, s_ref = reference(atoms, config)
    e, f, s = ours(atoms, config)
    assert abs(e - e_ref) / len(atoms) < 1e-6, (e, e_ref)
    assert np.abs(f - f_ref).max() < 1e-5
    if s_ref is not None:
        assert np.abs(s - s_ref).max() < 1e-6
    return e_ref


def _elements(atoms):
    return tuple(sorted(set(int(z) for z in atoms.numbers)))


@pytest.mark.parametrize("three_body", [False, True])
@pytest.mark.parametrize("name,smiles", [("BMIM", BMIM), ("BF4", BF4)])
def test_isolated_ions(name, smiles, three_body):
    molecule = molecule_from_smiles(name, smiles)
    atoms = Atoms(molecule.symbols, positions=molecule.conformers[0])
    config = d3_config(_elements(atoms), "b97-3c", three_body=three_body, cutoff_A=30.0, cn_cutoff_A=30.0,
                       three_body_cutoff_A=30.0)
    assert compare(atoms, config) < 0


@pytest.mark.parametrize("cutoff_A,three_body", [(8.0, False), (8.0, True), (20.0, False), (20.0, True)])
def test_bmim_bf4_box(box_10_pairs, cutoff_A, three_body):
    from ase.io import read

    atoms = read(box_10_pairs)
    config = d3_config(_elements(atoms), "b97-3c", three_body=three_body, cutoff_A=cutoff_A, cn_cutoff_A=cutoff_A,
                       three_body_cutoff_A=6.0)
    compare(atoms, config)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("three_body", [False, True])
def test_random_triclinic_cells_h_to_kr(seed, three_body):
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(6.0, 8.0, 3)) + np.triu(rng.uniform(-1.5, 1.5, (3, 3)), 1)
    n = 10
    numbers = rng.integers(1, 37, n)
    atoms = Atoms(numbers, scaled_positions=rng.random((n, 3)), cell=cell, pbc=True)
    while atoms.get_all_distances(mic=True)[np.triu_indices(n, 1)].min() < 1.2:  # keep atoms apart
        atoms.set_scaled_positions(rng.random((n, 3)))
    functional = ["pbe", "pbe0", "b3lyp", "tpss", "revpbe", "r2scan"][seed + 3 * three_body]
    config = d3_config(_elements(atoms), functional, three_body=three_body, cutoff_A=12.0, cn_cutoff_A=10.0,
                       three_body_cutoff_A=7.0)
    compare(atoms, config)


@pytest.mark.parametrize("three_body", [False, True])
def test_large_system_path_blocks_and_pairwise_c6(box_2_pairs, monkeypatch, three_body):
    """Systems above BLOCK_ATOMS / DENSE_C6_ATOMS take the blocked path with per-pair C6: same numbers."""
    import ilflow.potentials.d3 as d3
    import ilflow.potentials.d3_forces as d3_forces

    monkeypatch.setattr(d3, "BLOCK_ATOMS", 16)  # 60 atoms -> 4 blocks, the last one partly padding
    monkeypatch.setattr(d3, "DENSE_C6_ATOMS", 16)
    monkeypatch.setattr(d3_forces, "CPU_BLOCK_ATOMS", 16)  # the written-out gradient's blocks on a CPU
    jax.clear_caches()
    try:
        config = d3_config(_elements(box_2_pairs), "b97-3c", three_body=three_body, cutoff_A=11.0, cn_cutoff_A=9.0,
                           three_body_cutoff_A=5.0)
        compare(box_2_pairs, config)
    finally:
        jax.clear_caches()


def test_smooth_switch_forces_and_stress_match_finite_differences(box_2_pairs):
    atoms = box_2_pairs
    config = d3_config(_elements(atoms), "b97-3c", cutoff_A=9.0, cn_cutoff_A=9.0, switch_width_A=2.0,
                       cn_switch_width_A=2.0)
    e0, forces, stress = ours(atoms, config)
    h = 1e-4
    for i, c in [(0, 0), (33, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, c] += h
        minus.positions[i, c] -= h
        fd = -(ours(plus, config)[0] - ours(minus, config)[0]) / (2 * h)
        assert forces[i, c] == pytest.approx(fd, abs=1e-7)
    fd = strain_derivative_stress(lambda a: ours(a, config)[0], atoms, h)
    assert np.allclose(stress, fd, rtol=0.0, atol=1e-9)


@pytest.mark.parametrize("blocks", [None, 7])
def test_written_out_gradient_equals_autodiff_with_switches_and_tail(box_2_pairs, blocks):
    """The two-body gradient by hand (three passes over the pairs) against autodiff of the energy, with both smooth
    switches and the tail correction on (simple-dftd3 has neither): forces and stress to rounding."""
    atoms = box_2_pairs
    config = d3_config(_elements(atoms), "gfn1", cutoff_A=10.0, cn_cutoff_A=9.0, switch_width_A=2.0,
                       cn_switch_width_A=1.5, tail_correction=True)
    tables, system, neighbors = d3_tables(config), make_system(atoms, config.elements), host_d3_neighbors(atoms, config)
    auto = energy_forces_stress(lambda p, s, n: d3_energy(p, config, s, n), tables, system, neighbors)
    by_hand = d3_two_body_forces(tables, config, system, neighbors.pairs, block_atoms=blocks)
    assert float(by_hand.energy) == pytest.approx(float(auto.energy), rel=1e-12)
    assert np.abs(np.asarray(by_hand.forces - auto.forces)).max() < 1e-10  # eV/Å; forces here are ~0.1
    assert np.abs(np.asarray(by_hand.stress - auto.stress)).max() < 1e-12


@pytest.mark.parametrize("blocks", [None, 7])
def test_a_separate_coordination_number_list_changes_nothing_but_the_work(box_2_pairs, blocks):
    """A CN cutoff well inside the two-body one gets its own half list; the coordination-number passes over it give
    the energy, forces and stress of autodiff over the one long list (which masks the pairs beyond the CN cutoff)."""
    atoms = box_2_pairs
    config = d3_config(_elements(atoms), "gfn1", cutoff_A=12.0, cn_cutoff_A=7.0, cn_switch_width_A=1.0)
    tables, system, neighbors = d3_tables(config), make_system(atoms, config.elements), host_d3_neighbors(atoms, config)
    assert neighbors.cn is not None and neighbors.cn.idx.shape[1] < 0.5 * neighbors.pairs.idx.shape[1]
    auto = energy_forces_stress(lambda p, s, n: d3_energy(p, config, s, n), tables, system, neighbors)
    by_hand = d3_two_body_forces(tables, config, system, neighbors.pairs, block_atoms=blocks, cn_neighbors=neighbors.cn)
    assert float(by_hand.energy) == pytest.approx(float(auto.energy), rel=1e-12)
    assert np.abs(np.asarray(by_hand.forces - auto.forces)).max() < 1e-10
    assert np.abs(np.asarray(by_hand.stress - auto.stress)).max() < 1e-12


def test_hybrid_calculator_is_gmnn_plus_d3(tmp_path, box_2_pairs):
    """E, F, stress of the hybrid = the ensemble's + simple-dftd3's; uncertainties stay the ensemble's."""
    from ilflow.potentials import Calculator, GMNNConfig, init_params, save_model

    elements = _elements(box_2_pairs)
    gmnn = GMNNConfig(elements=elements, hidden=(16, 16))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    save_model(tmp_path / "m", gmnn, jax.vmap(lambda k: init_params(gmnn, k))(keys))
    plain, hybrid = box_2_pairs.copy(), box_2_pairs.copy()
    plain.calc = Calculator(tmp_path / "m")
    dispersion = {"functional": "b97-3c", "cutoff_A": 12.0, "cn_cutoff_A": 12.0}
    hybrid.calc = Calculator(tmp_path / "m", dispersion=dispersion)
    e_d3, f_d3, s_d3 = reference(box_2_pairs, d3_config(elements, **dispersion))
    assert hybrid.get_potential_energy() == pytest.approx(plain.get_potential_energy() + e_d3, abs=1e-5)
    assert np.abs(hybrid.get_forces() - plain.get_forces() - f_d3).max() < 1e-5
    assert np.abs(hybrid.get_stress() - plain.get_stress() - s_d3).max() < 1e-6
    assert hybrid.calc.results["energy_uncertainty"] == pytest.approx(plain.calc.results["energy_uncertainty"])


def test_tail_correction_approaches_the_long_cutoff_energy(box_10_pairs):
    from ase.io import read

    atoms = read(box_10_pairs)
    elements = _elements(atoms)
    long = ours(atoms, d3_config(elements, cutoff_A=30.0, cn_cutoff_A=10.0))[0]
    short = ours(atoms, d3_config(elements, cutoff_A=10.0, cn_cutoff_A=10.0))[0]
    tail = ours(atoms, d3_config(elements, cutoff_A=10.0, cn_cutoff_A=10.0, tail_correction=True))[0]
    assert abs(tail - long) < 0.2 * abs(short - long)  # the r^-6/r^-8 tail holds most of the missing energy


def test_dispersion_free_labels_subtract_d3_and_say_so(box_2_pairs):
    """Labels with `subtract_d3`: reference minus simple-dftd3's D3, and the settings recorded."""
    import json

    from ilflow.config.reference import AseReference, SubtractD3
    from ilflow.reference import make_labeler

    settings = SubtractD3(cutoff_A=12.0, cn_cutoff_A=12.0)
    plain = make_labeler(AseReference(method="ase", calculator="ase.calculators.lj:LennardJones",
                                      kwargs={"rc": 6.0}))
    minus = make_labeler(AseReference(method="ase", calculator="ase.calculators.lj:LennardJones",
                                      kwargs={"rc": 6.0}, subtract_d3=settings))
    assert plain.settings_id != minus.settings_id  # labels of the two kinds are never mixed up
    (full,), (free,) = plain.label([box_2_pairs]), minus.label([box_2_pairs])
    e_d3, f_d3, s_d3 = reference(box_2_pairs, d3_config(_elements(box_2_pairs), **settings.model_dump()))
    assert free.get_potential_energy() == pytest.approx(full.get_potential_energy() - e_d3, abs=1e-6)
    assert np.abs(free.get_forces() - (full.get_forces() - f_d3)).max() < 1e-5
    assert np.abs(free.get_stress() - (full.get_stress() - s_d3)).max() < 1e-6
    assert json.loads(free.info["d3_subtracted"])["functional"] == "b97-3c"
