"""An MD sampler with run-time D3 samples where a hybrid model runs: the ensemble plus D3 drives its MD (checked
against the ASE calculator of the same hybrid), refused where the labels already hold dispersion, and absent from
the stage identity when unused. Rattled, contact and bond copies are earlier candidates changed exactly as set,
and the MD's starting frames are drawn reproducibly."""

import h5py
import jax
import pytest

from ilflow.active.samplers import SamplerContext, md
from ilflow.config.dispersion import D3
from ilflow.config.learning import MDSampler
from ilflow.potentials import Calculator, GMNNConfig, init_params, save_model

SPECIES_AND_BOX = ('species: [{name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 2}, '
                   '{name: BF4, smiles: "F[B-](F)(F)F", count: 2}]\nbox: {density_g_cm3: 1.2}\n')


def _campaign(reference: str, run_time_d3: str) -> str:
    return (SPECIES_AND_BOX + f"reference: {reference}\n"
            "learning: {iterations: [{name: hot, samplers: [{kind: md, temperature_K: 353, "
            f"run_time_d3: {run_time_d3}}}]}}]}}\n")


@pytest.mark.slow  # 45 s, mostly compiling the hybrid's MD
def test_md_sampler_with_run_time_d3_runs_the_hybrid(tmp_path, box_2_pairs):
    config = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(8, 8), r_max_A=4.0)
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    params["scale"] = params["scale"] * 0.01  # gentle random forces
    save_model(tmp_path / "model", config, params)
    d3 = D3(functional="gfn1", cutoff_A=8.0)
    sampler = MDSampler(kind="md", temperature_K=30.0, timestep_fs=0.5, steps=16, frame_interval=8, start="initial",
                        uncertainty_threshold_eV_A=50.0, run_time_d3=d3)
    ctx = SamplerContext(tmp_path / "model", tmp_path / "sampling", [], box_2_pairs, [], None, iteration=1)
    ctx.work_dir.mkdir()
    frames = md(sampler, ctx, 0)
    assert len(frames) == 3 and ctx.records[0].steps_run == 16
    with h5py.File(ctx.work_dir / "md-0-0" / "trajectory.h5md") as f:
        recorded = f["observables/potential_energy/value"][-1]
    hybrid = Calculator(tmp_path / "model", dispersion=d3.settings()).get_potential_energy(frames[-1])
    alone = Calculator(tmp_path / "model").get_potential_energy(frames[-1])
    assert recorded == pytest.approx(hybrid, abs=1e-4) and abs(hybrid - alone) > 1e-2


def test_sampler_d3_on_labels_with_dispersion_is_refused_and_unused_d3_keeps_identities():
    from ilflow.config.loader import parse_campaign

    ok = parse_campaign(_campaign("{method: xtb, hamiltonian: GFN1-xTB, dispersion: remove}", "{functional: gfn1}"))
    assert ok.learning.iterations[0].samplers[0].run_time_d3.functional == "gfn1"
    with pytest.raises(Exception, match="count twice"):
        parse_campaign(_campaign("{method: xtb, hamiltonian: GFN1-xTB}", "{functional: gfn1}"))
    # a sampler without it dumps (and hashes) as before the key existed
    assert "run_time_d3" not in MDSampler(kind="md").model_dump(mode="json")


def test_rattled_copies_are_earlier_candidates_displaced_by_the_set_gaussian(tmp_path, box_2_pairs):
    """Each copy is one of the earlier candidates (the nearest by RMSD) plus displacements whose spread is
    `displacement_A` per component (chi-square interval over 96 x 3 x 64 numbers) and whose mean is zero."""
    import numpy as np
    from ase.io import write

    from ilflow.active.samplers import CANDIDATES, rattle
    from ilflow.config.learning import RattleSampler

    rng = np.random.default_rng(1)
    earlier = tmp_path / "iteration-001"
    earlier.mkdir()
    candidates = []
    for _ in range(5):
        frame = box_2_pairs.copy()
        frame.positions += rng.normal(0.0, 0.3, frame.positions.shape)  # distinct candidates, 0.3 Å apart
        candidates.append(frame)
    write(earlier / CANDIDATES, candidates)
    sampler = RattleSampler(kind="rattle", copies=64, displacement_A=0.05)
    ctx = SamplerContext(tmp_path / "model", tmp_path / "sampling", [earlier], box_2_pairs, [], None, iteration=2)
    frames = rattle(sampler, ctx, 0)
    assert len(frames) == 64 and ctx.records[0].sampler == "rattle"
    displacements = []
    for frame in frames:
        rmsd = [np.sqrt(np.mean((frame.positions - c.positions) ** 2)) for c in candidates]
        displacements.append(frame.positions - candidates[int(np.argmin(rmsd))].positions)
        assert sorted(rmsd)[1] > 0.2  # a clear nearest candidate
    d = np.concatenate(displacements).ravel()
    n = d.size
    assert abs(d.mean()) < 4 * 0.05 / np.sqrt(n)
    assert abs(d.std() / 0.05 - 1.0) < 4 / np.sqrt(2 * n)  # 4 standard errors of a sample std
    again = rattle(sampler, SamplerContext(tmp_path / "model", tmp_path / "s2", [earlier], box_2_pairs, [], None,
                                           iteration=2), 0)
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(frames, again))  # seeded
    alone = rattle(sampler, SamplerContext(tmp_path / "model", tmp_path / "s3", [], box_2_pairs, [], None,
                                           iteration=1), 0)
    assert np.abs(alone[0].positions - box_2_pairs.positions).max() < 6 * 0.05  # no earlier candidates: the start


def test_md_starts_from_initial_frames_drawn_per_iteration_and_replica(tmp_path, box_2_pairs):
    """start: initial_frames spreads the replicas of an iteration over the initial data (reproducibly), where
    start: initial gives every MD the same last frame."""
    from conftest import rattled
    from ilflow.active.samplers import _start

    initial = rattled(box_2_pairs, 10, seed=4)
    for k, atoms in enumerate(initial):
        atoms.info["frame"] = k
    ctx = SamplerContext(tmp_path / "model", tmp_path / "sampling", [], initial[-1], [], None, iteration=3,
                         initial=initial)
    spread = MDSampler(kind="md", start="initial_frames")
    drawn = [_start(spread, ctx, replica).info["frame"] for replica in range(6)]
    assert len(set(drawn)) >= 3  # 6 draws from 10 frames: all alike has probability 1e-5
    assert drawn == [_start(spread, ctx, replica).info["frame"] for replica in range(6)]  # the same on a rerun
    later = SamplerContext(tmp_path / "model", tmp_path / "s", [], initial[-1], [], None, iteration=4, initial=initial)
    assert [_start(spread, later, replica).info["frame"] for replica in range(6)] != drawn
    assert {_start(MDSampler(kind="md", start="initial"), ctx, r).info["frame"] for r in range(3)} == {9}
    assert _start(spread, SamplerContext(tmp_path / "m", tmp_path / "t", [], initial[-1], [], None, iteration=3),
                  0).info["frame"] == 9  # without initial frames: the start frame


BONDI_RADII_A = {"H": 1.20, "B": 1.92, "C": 1.70, "N": 1.55, "F": 1.47}  # Bondi, J. Phys. Chem. 68, 441 (1964)


def _closest_contact(atoms, mol_ids):
    """(distance in Å, fraction of the Bondi sum) of the intermolecular pair closest relative to its Bondi sum."""
    import numpy as np
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, 5.0, self_interaction=False)
    radii = np.array([BONDI_RADII_A[s] for s in atoms.get_chemical_symbols()])
    inter = mol_ids[i] != mol_ids[j]
    fraction = d[inter] / (radii[i] + radii[j])[inter]
    k = int(np.argmin(fraction))
    return d[inter][k], fraction[k]


def test_contact_copies_move_one_molecule_rigidly_into_the_drawn_contact(tmp_path, box_2_pairs):
    """Each copy is an earlier candidate with one whole molecule translated (by at most 0.7 Å), and its closest
    contact relative to the Bondi radii is the recorded one, at a fraction inside the set range; seeded."""
    import numpy as np
    from ase.io import write

    from conftest import rattled
    from ilflow.active.samplers import CANDIDATES, contacts
    from ilflow.config.learning import ContactSampler
    from ilflow.system.topology import find_molecules

    earlier = tmp_path / "iteration-001"
    earlier.mkdir()
    candidates = rattled(box_2_pairs, 4, sigma_A=0.02, seed=5)
    write(earlier / CANDIDATES, candidates)
    mol_ids = find_molecules(box_2_pairs)
    sampler = ContactSampler(kind="contacts", copies=12, fractions=(0.55, 0.68))
    ctx = SamplerContext(tmp_path / "model", tmp_path / "sampling", [earlier], box_2_pairs, [], None, iteration=2)
    frames = contacts(sampler, ctx, 0)
    assert len(frames) == 12 and ctx.records[0].sampler == "contacts"
    fractions = []
    for frame in frames:
        source = min(candidates, key=lambda c: np.sum(np.abs(frame.positions - c.positions) > 1e-6))  # fewest moved
        shift = frame.positions - source.positions
        moved = np.flatnonzero(np.abs(shift).max(1) > 1e-6)  # extxyz keeps 8 decimals
        assert set(mol_ids[moved]) == {mol_ids[moved[0]]} and len(moved) == np.sum(mol_ids == mol_ids[moved[0]])
        assert np.allclose(shift[moved], shift[moved[0]], atol=1e-6)  # rigid: one translation for the molecule
        assert 0.0 < np.linalg.norm(shift[moved[0]]) <= 0.7 + 1e-9
        distance, fraction = _closest_contact(frame, mol_ids)
        assert distance == pytest.approx(frame.info["contact_A"], abs=1e-6)
        assert fraction == pytest.approx(frame.info["contact_vdw_fraction"], abs=1e-6)
        assert 0.55 <= fraction <= 0.68 and fraction < _closest_contact(source, mol_ids)[1]
        fractions.append(fraction)
    assert np.ptp(fractions) > 0.05  # drawn over the range, not one value
    again = contacts(sampler, SamplerContext(tmp_path / "model", tmp_path / "s2", [earlier], box_2_pairs, [], None,
                                             iteration=2), 0)
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(frames, again))
    with pytest.raises(ValueError, match="must rise"):
        ContactSampler(kind="contacts", fractions=(0.7, 0.6))


def test_each_kind_of_contact_is_drawn_equally_often():
    """An H2 molecule with four F2 molecules within reach of one of its H (four H...F pairs) and one H2 within reach
    (one H...H pair): drawn by kind, half the pushes are H...H (drawn over pairs it would be a fifth)."""
    import numpy as np
    from ase import Atoms

    from ilflow.active.samplers import pushed_together

    h0 = np.array([10.0, 10.0, 10.0])
    positions = [h0, h0 + [0.74, 0, 0], h0 - [2.0, 0, 0], h0 - [2.74, 0, 0]]  # H2 (A) and H2 (B), H...H 2.0 Å
    for direction in ([0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]):
        positions += [h0 + 2.25 * np.array(direction), h0 + 3.67 * np.array(direction)]  # F2, H...F 2.25 Å
    atoms = Atoms("H4F8", positions=positions, cell=[20.0] * 3, pbc=True)
    mol_ids = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    rng = np.random.default_rng(0)
    contacts = [pushed_together(atoms, mol_ids, 0.6, rng).info["contact_A"] for _ in range(400)]
    h_h = np.isclose(contacts, 0.6 * 2.40)  # Bondi: H...H 2.40 Å, H...F 2.67 Å
    assert np.all(h_h | np.isclose(contacts, 0.6 * 2.67))
    assert 0.4 < h_h.mean() < 0.6  # 0.5 +- 4 binomial standard deviations


def _bonds_by_kind(atoms):
    """{kind: [(i, j), ...]} from ASE's connectivity (1.2 x the covalent radii), kind as in the sampler's records:
    element and number of bonds of both atoms, alphabetical, e.g. "C4-H1"."""
    import numpy as np
    from ase.neighborlist import build_neighbor_list, natural_cutoffs

    connected = build_neighbor_list(atoms, natural_cutoffs(atoms, mult=1.2), skin=0.0, self_interaction=False,
                                    bothways=True).get_connectivity_matrix(sparse=False)
    degree = connected.sum(axis=1)
    names = [f"{s}{n}" for s, n in zip(atoms.get_chemical_symbols(), degree)]
    kinds = {}
    for i, j in zip(*np.nonzero(np.triu(connected))):
        kinds.setdefault("-".join(sorted((names[i], names[j]))), []).append((int(i), int(j)))
    return kinds


def test_bond_copies_move_one_bond_to_the_drawn_deviation(tmp_path, box_2_pairs):
    """Each copy is an earlier candidate in which exactly the two atoms of one bond moved, along that bond and with
    their centre of mass fixed, to the recorded length: the recorded number of standard deviations (3 to 4.5, both
    signs) from the mean of its kind of bond over the candidates, computed here with ASE's connectivity; seeded."""
    import numpy as np
    from ase.io import write

    from conftest import rattled
    from ilflow.active.samplers import CANDIDATES, bonds
    from ilflow.config.learning import BondSampler

    earlier = tmp_path / "iteration-001"
    earlier.mkdir()
    candidates = rattled(box_2_pairs, 6, sigma_A=0.03, seed=5)
    write(earlier / CANDIDATES, candidates)
    kinds = _bonds_by_kind(box_2_pairs)
    lengths = {kind: [c.get_distance(i, j, mic=True) for c in candidates for i, j in pairs]
               for kind, pairs in kinds.items()}
    sampler = BondSampler(kind="bonds", copies=16, deviations=(3.0, 4.5))
    ctx = SamplerContext(tmp_path / "model", tmp_path / "sampling", [earlier], box_2_pairs, [], None, iteration=2)
    frames = bonds(sampler, ctx, 0)
    assert len(frames) == 16 and ctx.records[0].sampler == "bonds"
    for frame in frames:
        source = min(candidates, key=lambda c: np.sum(np.abs(frame.positions - c.positions) > 1e-6))
        moved = np.flatnonzero(np.abs(frame.positions - source.positions).max(1) > 1e-6)  # extxyz keeps 8 decimals
        kind = frame.info["bond"]
        assert len(moved) == 2 and tuple(moved) in kinds[kind]
        i, j = moved
        masses = source.get_masses()[moved]
        bond = source.get_distance(i, j, mic=True, vector=True)
        for atom in moved:  # along the bond
            shift = frame.positions[atom] - source.positions[atom]
            assert np.linalg.norm(np.cross(shift, bond)) < 1e-5
        com_shift = masses @ (frame.positions[moved] - source.positions[moved]) / masses.sum()
        assert np.allclose(com_shift, 0.0, atol=1e-6)
        length = frame.get_distance(i, j, mic=True)
        assert length == pytest.approx(frame.info["bond_A"], abs=1e-6)
        deviation = (length - np.mean(lengths[kind])) / np.std(lengths[kind])
        assert deviation == pytest.approx(frame.info["bond_deviation"], abs=1e-4)
        assert 3.0 - 1e-4 <= abs(deviation) <= 4.5 + 1e-4
    signs = np.sign([f.info["bond_deviation"] for f in frames])
    assert set(signs) == {-1.0, 1.0}
    again = bonds(sampler, SamplerContext(tmp_path / "model", tmp_path / "s2", [earlier], box_2_pairs, [], None,
                                          iteration=2), 0)
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(frames, again))
    with pytest.raises(ValueError, match="must rise"):
        BondSampler(kind="bonds", deviations=(4.5, 3.0))


def test_each_kind_of_bond_is_drawn_equally_often(box_2_pairs):
    """BMIM-BF4 has 7 kinds of bond; the ring's one C-C is 2 of the 58 bonds of two ion pairs, yet a seventh of the
    draws (drawn over bonds it would be 3.4%)."""
    import numpy as np

    from ilflow.active.samplers import bond_moved, bond_spread

    spread = bond_spread([box_2_pairs])
    assert set(spread) == set(_bonds_by_kind(box_2_pairs))
    assert sorted(spread) == ["B4-F1", "C3-C3", "C3-H1", "C3-N3", "C4-C4", "C4-H1", "C4-N3"]
    rng = np.random.default_rng(0)
    drawn = [bond_moved(box_2_pairs, spread, 3.0, rng).info["bond"] for _ in range(700)]
    for kind in spread:
        assert 60 <= drawn.count(kind) <= 140  # 100 +- 4 binomial standard deviations (9.3)


@pytest.mark.parametrize("kind, symbols, x_A, message", [
    # two F2 molecules 6 Å apart: no pair within 0.7 Å of its drawn distance
    ("contacts", "F4", [5, 6.42, 12.42, 13.84], "too few contacts"),
    ("bonds", "Ar4", [0, 5, 10, 15], "no covalent bond"),  # argon has no bond to move
])
def test_samplers_with_nothing_to_change_give_no_copies_and_a_warning(tmp_path, caplog, kind, symbols, x_A, message):
    """A frame with nothing the sampler can change: no copy, and the log says how many and why."""
    from ase import Atoms

    from ilflow.active.samplers import SAMPLERS
    from ilflow.config.learning import BondSampler, ContactSampler

    atoms = Atoms(symbols, positions=[[x, 5, 5] for x in x_A], cell=[20.0] * 3, pbc=True)
    sampler = {"contacts": ContactSampler, "bonds": BondSampler}[kind](kind=kind, copies=3)
    ctx = SamplerContext(tmp_path / "model", tmp_path / "sampling", [], atoms, [], None, iteration=1)
    with caplog.at_level("WARNING", logger="ilflow.active.samplers"):
        assert SAMPLERS[kind](sampler, ctx, 0) == []
    assert "0 of 3 copies" in caplog.text and message in caplog.text and ctx.records[0].frames == 0
