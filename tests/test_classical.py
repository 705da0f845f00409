"""Classical initial data: CL&P typing, OpenMM energies against an independent evaluation, bootstrap."""

import json
import numpy as np
import pytest
from ase import Atoms
from scipy.sparse.csgraph import shortest_path

from ilflow.classical.run import ClassicalSummary
from ilflow.classical import (NoTemplateError, bootstrap_frames, build_system, clandp, match_template, type_box,
                              type_molecule)
from ilflow.config import Species
from ilflow.io import read_frames
from ilflow.system.species import molecule_from_smiles
from ilflow.system.topology import bond_graph, min_intermolecular_distance

openmm = pytest.importorskip("openmm")

COULOMB_KJ_MOL_A = 1389.35457  # e^2 / (4 pi eps0) in kJ/mol Å (OpenMM's ONE_4PI_EPS0 = 138.935456 kJ/mol nm)


def _molecule(smiles: str, seed: int = 3) -> Atoms:
    molecule = molecule_from_smiles("m", smiles, n_conformers=1, seed=seed)
    return Atoms(molecule.symbols, positions=molecule.conformers[0])


def _ion_pair(cation: str = "CCCCn1cc[n+](C)c1", anion: str = "F[B-](F)(F)F", distance_A: float = 5.0) -> Atoms:
    cation, anion = _molecule(cation), _molecule(anion)
    anion.positions += cation.positions.mean(0) - anion.positions.mean(0) + np.array([0.0, 0.0, distance_A])
    pair = cation + anion
    pair.new_array("molecule_id", np.array([0] * len(cation) + [1] * len(anion)))
    return pair


def _openmm_terms(atoms: Atoms) -> dict[str, float]:
    system, positions = build_system(type_box(atoms))
    context = openmm.Context(system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions)
    groups = {"bonds": 0, "angles": 1, "torsions": 2, "coulomb": 3, "lennard_jones": 4}
    return {name: context.getState(getEnergy=True, groups={g}).getPotentialEnergy()._value
            for name, g in groups.items()}


def _independent_terms(atoms: Atoms) -> dict[str, float]:
    """The CL&P energy terms from clandp.json, enumerated here from the bond graph (kJ/mol)."""
    data = clandp()
    box = type_box(atoms)  # only the atom types are taken from ilflow's typing
    types = [None] * len(atoms)
    for index, typed in box.molecules:
        for local, atom in enumerate(index):
            types[atom] = typed.types[local]
    kind = [data["atom_types"][t] for t in types]
    bonded = [k.get("bonded_type", t) for k, t in zip(kind, types)]
    x = atoms.positions
    bonds = sorted(bond_graph(atoms))
    n = len(atoms)
    adjacency = np.zeros((n, n))
    for i, j in bonds:
        adjacency[i, j] = adjacency[j, i] = 1
    hops = shortest_path(adjacency, unweighted=True)

    def find(table, key):
        return next(e for e in table if tuple(e["types"]) in (key, key[::-1]))

    def dihedral(a, b, c, d):
        b0, b1, b2 = x[a] - x[b], x[c] - x[b], x[d] - x[c]
        b1 = b1 / np.linalg.norm(b1)
        v, w = b0 - (b0 @ b1) * b1, b2 - (b2 @ b1) * b1
        return np.arctan2(np.cross(b1, v) @ w, v @ w)

    def opls(phi, e):
        return (e["v1"] / 2 * (1 + np.cos(phi)) + e["v2"] / 2 * (1 - np.cos(2 * phi))
                + e["v3"] / 2 * (1 + np.cos(3 * phi)) + e["v4"] / 2 * (1 - np.cos(4 * phi)))

    terms = dict.fromkeys(["bonds", "angles", "torsions", "coulomb", "lennard_jones"], 0.0)
    for i, j in bonds:
        e = find(data["bonds"], (bonded[i], bonded[j]))
        terms["bonds"] += e["k_kJ_mol_A2"] / 2 * (np.linalg.norm(x[i] - x[j]) - e["r0_A"]) ** 2
    for j in range(n):
        around = np.flatnonzero(adjacency[j])
        for a in range(len(around)):
            for b in range(a + 1, len(around)):
                i, k = around[a], around[b]
                e = find(data["angles"], (bonded[i], bonded[j], bonded[k]))
                u, v = x[i] - x[j], x[k] - x[j]
                theta = np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
                terms["angles"] += e["k_kJ_mol_rad2"] / 2 * (theta - np.radians(e["theta0_deg"])) ** 2
    for j, k in bonds:
        for i in np.flatnonzero(adjacency[j]):
            for m in np.flatnonzero(adjacency[k]):
                if i != k and m != j and i != m:
                    terms["torsions"] += opls(dihedral(i, j, k, m), find(data["dihedrals"], (bonded[i], bonded[j],
                                                                                             bonded[k], bonded[m])))
    # impropers: the sp2 ring carbons and nitrogens of the template, central atom third (il.ff convention)
    for index, typed in box.molecules:
        name = typed.template
        template = data["molecules"][name]
        local = {a: k for k, a in enumerate(index)}
        _, order = match_template(atoms.numbers[index], [(local[a], local[b]) for a, b in bonds if a in local and b in local])
        to_atom = {t: index[i] for i, t in enumerate(order)}
        for quad in template.get("impropers", []):
            a, b, c, d = (to_atom[t] for t in quad)
            e = next(e for e in data["impropers"] if tuple(e["types"]) == (bonded[a], bonded[b], bonded[c], bonded[d]))
            terms["torsions"] += opls(dihedral(a, b, c, d), e)
    q = np.array([k["charge"] for k in kind])
    sigma = np.array([k["sigma_A"] for k in kind])
    eps = np.array([k["epsilon_kJ_mol"] for k in kind])
    for i in range(n):
        for j in range(i + 1, n):
            if hops[i, j] < 3:
                continue
            scale = 0.5 if hops[i, j] == 3 else 1.0
            r = np.linalg.norm(x[i] - x[j])
            s, e = np.sqrt(sigma[i] * sigma[j]), np.sqrt(eps[i] * eps[j])
            terms["coulomb"] += scale * COULOMB_KJ_MOL_A * q[i] * q[j] / r
            terms["lennard_jones"] += scale * 4 * e * ((s / r) ** 12 - (s / r) ** 6)
    return terms


# the new families in pairs (pyridinium and acetate carry impropers); the anion's centre this far (Å) above the
# cation's: the closest interionic atoms are then 2.3-3.4 Å apart (P66614+, 18 Å across: 9.5 Å)
PAIRS = [("CCCCn1cc[n+](C)c1", "F[B-](F)(F)F", 5.0), ("CCCC[n+]1ccccc1", "N#C[N-]C#N", 5.0),
         ("CCCC[N+]1(C)CCCC1", "FS(=O)(=O)[N-]S(=O)(=O)F", 6.0), ("CCCC[N+](C)(C)C", "[O-]S(=O)(=O)C(F)(F)F", 6.0),
         ("CCCCCC[P+](CCCCCC)(CCCCCC)CCCCCCCCCCCCCC", "CC(=O)[O-]", 12.0)]


@pytest.mark.parametrize("cation, anion, distance_A", PAIRS)
def test_isolated_ion_pair_energy_terms_equal_an_independent_evaluation(cation, anion, distance_A):
    pair = _ion_pair(cation, anion, distance_A)
    ours, expected = _openmm_terms(pair), _independent_terms(pair)
    print({k: (round(ours[k], 6), round(expected[k], 6)) for k in ours})
    for name in expected:
        assert ours[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-4), name
    assert all(abs(v) > 0.1 for v in expected.values())  # every term is exercised


def test_atom_types_follow_the_atoms_in_any_order():
    pair = _ion_pair()
    reference = type_box(pair)
    expected = np.concatenate([np.array(t.types) for _, t in reference.molecules])
    energy = sum(_openmm_terms(pair).values())
    rng = np.random.default_rng(0)
    for _ in range(3):
        order = np.concatenate([rng.permutation(25), 25 + rng.permutation(5)])
        shuffled = pair[order]
        typed = type_box(shuffled)
        types = np.empty(len(pair), dtype=object)
        for index, t in typed.molecules:
            types[index] = t.types
        assert list(types) == list(expected[order])
        assert sum(_openmm_terms(shuffled).values()) == pytest.approx(energy, rel=1e-9)


TEMPLATES = ["c4c1im", "c2c1im", "BF4", "PF6", "NTf2", "Cl",
             "c4c1pyrr", "n1111", "n1114", "p66614", "c4py", "FSI", "OTf", "DCA", "OAc"]
# the ions of the newer families as a user writes them (SMILES), with the template each must get
NEW_IONS = {"c4c1pyrr": "CCCC[N+]1(C)CCCC1", "n1111": "C[N+](C)(C)C", "n1114": "CCCC[N+](C)(C)C",
            "p66614": "CCCCCC[P+](CCCCCC)(CCCCCC)CCCCCCCCCCCCCC", "c4py": "CCCC[n+]1ccccc1",
            "FSI": "FS(=O)(=O)[N-]S(=O)(=O)F", "OTf": "[O-]S(=O)(=O)C(F)(F)F", "DCA": "N#C[N-]C#N", "OAc": "CC(=O)[O-]"}
# CL&P r0 against MMFF94's (RDKit, computed here): the two force fields take bond lengths from different sources
# (CL&P from OPLS-AA/AMBER or the CL&P papers, MMFF94 from MP2/6-31G* geometries and experimental structures) and
# differ by up to 0.046 Å for one bond here (the S-C of triflate and NTf2-), while a wrong type on an atom moves r0 by
# 0.1 Å or more (aromatic C-N 1.340 vs alkyl 1.448, P-C 1.81 vs C-C 1.529, C#N 1.157 vs N-C 1.310, C-O2 1.25 vs
# C-C 1.522 Å)
R0_TOLERANCE_A = 0.05


def test_the_template_list_is_every_shipped_template():
    assert sorted(TEMPLATES) == sorted(clandp()["molecules"])


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_matches_its_smiles_and_its_charges_sum_to_the_ion_charge(name):
    template = clandp()["molecules"][name]
    molecule = molecule_from_smiles(name, template["smiles"], n_conformers=1)
    typed = type_molecule(molecule.atomic_numbers, molecule.bonds)  # the SMILES graph (RDKit's PF6 geometry is poor)
    assert typed.template == name
    assert typed.charge_e == pytest.approx(molecule.charge, abs=1e-6)
    if name == "PF6":  # the trans F-P-F pairs carry no 90-degree angle term
        assert len(typed.angles) == 12


def _graph(smiles: str):
    """RDKit molecule with hydrogens, its atomic numbers and bonds (sorted pairs), straight from the SMILES."""
    from rdkit import Chem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    pairs = sorted(tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds())
    return mol, [a.GetAtomicNum() for a in mol.GetAtoms()], pairs


def _mmff_r0(mol, i: int, j: int) -> float:
    from rdkit.Chem import AllChem

    return AllChem.MMFFGetMoleculeProperties(mol).GetMMFFBondStretchParams(mol, i, j)[2]


@pytest.mark.parametrize("name", list(NEW_IONS))
def test_new_ions_bond_lengths_agree_with_mmff94(name):
    """CL&P r0 of every bond of the typed ion within R0_TOLERANCE_A of MMFF94's r0 for the same bond.

    Dicyanamide's central N-C bonds are the exception: MMFF gives the central N- its deprotonated-sulfonamide type
    (NM, 62) with two single bonds (r0 1.461 Å), while the charge is delocalised onto the nitrile nitrogens and the
    bonds have partial double-bond character (CL&P 1.310 Å, il.ff 'dicyanamide JPCB110(2006)19586'); for them the
    test asks that r0 lie between MMFF's C=N double bond (methanimine, 1.29 Å) and 0.1 Å below its N-C single bond."""
    mol, numbers, pairs = _graph(NEW_IONS[name])
    typed = type_molecule(numbers, pairs)
    assert typed.template == name
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    worst = 0.0
    for i, j, r0, *_ in typed.bonds:
        reference = _mmff_r0(mol, i, j)
        if name == "DCA" and {symbols[i], symbols[j]} == {"N", "C"} and min(
                mol.GetAtomWithIdx(i).GetDegree(), mol.GetAtomWithIdx(j).GetDegree()) == 2:
            double, _, _ = _graph("C=N")
            assert _mmff_r0(double, 0, 1) < r0 < reference - 0.1, (i, j, r0, reference)
            continue
        assert abs(r0 - reference) < R0_TOLERANCE_A, (name, symbols[i], symbols[j], r0, reference)
        worst = max(worst, abs(r0 - reference))
    print(name, "largest |r0(CL&P) - r0(MMFF94)|", round(worst, 4), "Å")


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_bonded_term_of_every_template_has_parameters(name):
    """Every bond, angle and proper dihedral of the ion's graph carries a CL&P term (type_molecule raises
    NoTemplateError on a missing entry), counted here from the graph; one improper on each sp2 centre with three
    neighbours (RDKit's hybridisation), centred on that atom; charges sum to the formal charge."""
    from rdkit import Chem

    mol, numbers, pairs = _graph(clandp()["molecules"][name]["smiles"])
    typed = type_molecule(numbers, pairs)
    degree = [a.GetDegree() for a in mol.GetAtoms()]
    n_angles = sum(d * (d - 1) // 2 for d in degree)
    n_dihedrals = sum((degree[i] - 1) * (degree[j] - 1) for i, j in pairs)  # no 3-membered rings here
    sp2 = {a.GetIdx() for a in mol.GetAtoms()
           if a.GetDegree() == 3 and a.GetHybridization() == Chem.HybridizationType.SP2}
    impropers = typed.torsions[n_dihedrals:]  # type_molecule lists the proper dihedrals first
    assert len(typed.bonds) == len(pairs)
    assert len(typed.angles) == n_angles - (3 if name == "PF6" else 0)  # PF6: no term on the trans F-P-F
    assert len(typed.torsions) == n_dihedrals + len(sp2)
    assert sorted(t[2] for t in impropers) == sorted(sp2)
    assert typed.charge_e == pytest.approx(Chem.GetFormalCharge(mol), abs=1e-9)


@pytest.mark.parametrize("smiles", ["N#C[N-]C#N", "CC(=O)[O-]", "CCCC[n+]1ccccc1", "FS(=O)(=O)[N-]S(=O)(=O)F"])
def test_built_ions_sit_at_a_minimum_of_the_independently_evaluated_clandp_energy(smiles):
    """molecule_from_smiles relaxes ions a template matches with CL&P: the gradient of the CL&P energy of this file's
    own evaluation (central differences, 1e-4 Å) vanishes there (RMS below 0.5 kJ/mol/Å; the minimiser stops at
    0.1 kJ/mol/Å, while MMFF's dicyanamide, 0.15 Å off in two bonds of k = 4206 kJ/mol/Å², is at 307)."""
    ion = _molecule(smiles)

    def energy(x):
        atoms = ion.copy()
        atoms.positions = x
        return sum(_independent_terms(atoms).values())

    x0, h = ion.positions.copy(), 1e-4
    gradient = np.zeros_like(x0)
    for index in np.ndindex(*x0.shape):
        plus, minus = x0.copy(), x0.copy()
        plus[index] += h
        minus[index] -= h
        gradient[index] = (energy(plus) - energy(minus)) / (2 * h)
    rms = np.sqrt(np.mean(gradient ** 2))
    print(smiles, "RMS gradient", rms, "kJ/mol/Å")
    assert rms < 0.5


def test_a_molecule_without_template_gets_a_clear_message():
    ethanol = _molecule("CCO")
    with pytest.raises(NoTemplateError, match=r"no shipped CL&P template matches the molecule C2H6O.*learning.initial.source: bootstrap"):
        type_box(ethanol)


def test_bootstrap_frames_are_intact_perturbed_copies():
    from ilflow.config import Box
    from ilflow.system import build_box

    atoms = build_box([Species(name="EtOH", smiles="CCO", count=12)], Box(density_g_cm3=0.6, seed=1))
    frames = bootstrap_frames(atoms, 6, seed=2)
    volumes = np.array([f.get_volume() for f in frames]) / atoms.get_volume()
    assert len(frames) == 6 and np.all((volumes > 0.92 - 1e-9) & (volumes < 1.15 + 1e-9)) and np.ptp(volumes) > 0.02
    graph = bond_graph(atoms)
    for frame in frames:
        assert bond_graph(frame) == graph  # no molecule broken or fused
        assert min_intermolecular_distance(frame, frame.arrays["molecule_id"], cutoff=1.4) >= 1.3
        assert np.abs(frame.positions - atoms.positions).max() > 0.1
    assert json.dumps(frames[0].info["source"]) == '"bootstrap"'


@pytest.fixture(scope="module")
def small_box():
    from ilflow.config import Box
    from ilflow.system import build_box

    return build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=4),
                      Species(name="BF4", smiles="F[B-](F)(F)F", count=4)], Box(density_g_cm3=1.1, seed=3))


def test_npt_run_writes_frames_with_provenance_and_resumes_after_a_crash(small_box, tmp_path, monkeypatch):
    """A run killed after 7 frames continues from its checkpoint: the same number of frames as an
    uninterrupted run, steps strictly increasing, no duplicates; decorrelated frames carry their origin."""
    import h5py

    from ilflow.classical import ClassicalSettings, run_classical
    from ilflow.classical import run as run_module

    settings = ClassicalSettings(ensemble="npt", temperature_K=400.0, equilibration_ps=0.5, duration_ps=1.5,
                                 frame_every_ps=0.1, barostat_every=10, seed=3)
    real_frame, calls = run_module._frame, {"n": 0}

    def crashing(*args):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return real_frame(*args)

    monkeypatch.setattr(run_module, "_frame", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_classical(small_box, settings, tmp_path / "run")
    assert not (tmp_path / "run" / "summary.json").exists()
    monkeypatch.setattr(run_module, "_frame", real_frame)
    summary = run_classical(small_box, settings, tmp_path / "run")
    with h5py.File(tmp_path / "run" / "trajectory.h5md") as f:
        steps = f["particles/trajectory/position/step"][:]
        volumes = np.abs(np.linalg.det(f["particles/trajectory/box/edges/value"][:]))
        temperature = f["observables/temperature/value"][:]
    assert summary.frames == len(steps) == 15 and np.all(np.diff(steps) == 100)
    assert np.ptp(volumes) > 0  # the barostat moves the box
    assert 300 < np.mean(temperature) < 500
    frames = read_frames(tmp_path / "run" / "frames.extxyz")
    assert len(frames) == summary.decorrelated_frames == summary.frames_kept >= 2
    assert frames[-1].info["source"].startswith("classical") and frames[-1].info["temperature_K"] == 400.0
    assert frames[-1].info["time_ps"] == pytest.approx(2.0)
    assert summary.simulated_ns == pytest.approx(0.002)
    assert set(frames[0].arrays) >= {"molecule_id", "species_name"}


def test_classical_cli_runs_and_rejects_bad_input(small_box, tmp_path):
    from conftest import run_cli

    from ilflow.io import write_frames

    write_frames(tmp_path / "box.extxyz", small_box)
    args = ["classical", "--structure", str(tmp_path / "box.extxyz"), "--temperature-K", "450", "--thermostat", "nose_hoover",
            "--equilibration-ps", "0.2", "--duration-ps", "0.6", "--frame-every-ps", "0.1", "--out", str(tmp_path / "run")]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    summary = ClassicalSummary.load(tmp_path / "run" / "summary.json")
    assert summary.frames == 6 and summary.mean_density_g_cm3 == pytest.approx(1.1, rel=1e-6)
    bad = run_cli("classical", "--structure", str(tmp_path / "box.extxyz"), "--ensemble", "nph",
                  "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "nph" in bad.stderr and not (tmp_path / "bad").exists()
    ethanol = tmp_path / "ethanol.extxyz"
    from ilflow.config import Box
    from ilflow.system import build_box

    write_frames(ethanol, build_box([Species(name="EtOH", smiles="CCO", count=20)], Box(density_g_cm3=0.7, seed=1)))
    missing = run_cli("classical", "--structure", str(ethanol), "--out", str(tmp_path / "etoh"))
    assert missing.returncode == 2 and "no shipped CL&P template" in missing.stderr
    assert not (tmp_path / "etoh").exists()


def test_initial_frames_fall_back_to_bootstrap_with_a_message(tmp_path, caplog):
    from ilflow.classical import initial_frames
    from ilflow.config import Box
    from ilflow.system import build_box

    box = build_box([Species(name="EtOH", smiles="CCO", count=10)], Box(density_g_cm3=0.6, seed=1))
    with caplog.at_level("WARNING", logger="ilflow"):
        frames = initial_frames(box, 4, tmp_path / "init", source="classical")
    assert len(frames) == 4 and all(f.info["source"] == "bootstrap" for f in frames)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "no shipped CL&P template" in said[0] and "bootstrap" in said[0]
    again = initial_frames(box, 4, tmp_path / "init", source="classical")  # the same seed: the same frames
    assert np.allclose(again[2].positions, frames[2].positions)
