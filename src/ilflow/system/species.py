"""SMILES -> 3D molecules with hydrogens (RDKit ETKDG, seeded), conformers, charge, mass and formula.

Conformers are relaxed with MMFF94 (UFF where MMFF lacks parameters) and then, for ions a shipped CL&P template
matches, minimised with the CL&P force field itself, so that their geometry is the one the classical initial data
starts from (MMFF puts dicyanamide's delocalised central N-C bonds at 1.46 Å, CL&P at 1.31 Å).
"""

from dataclasses import dataclass

import numpy as np
from ase.data import atomic_masses
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdMolDescriptors

from ilflow.errors import SpeciesError
from ilflow.system.geometry import (
    geometry_problems,
    ideal_polyhedron,
    polyhedral_centre,
    quiet_rdkit,
    reference_bond_lengths_A,
)

RETRIES = 5  # new random-coordinate embeddings of a broken conformer
CLANDP_TOLERANCE_KJ_MOL_NM = 1.0  # OpenMM minimiser stop: RMS force 0.1 kJ/mol/Å, ~5e-5 Å of a bond (k ~ 2000)
CLANDP_MAX_ITERATIONS = 5000  # P66614+ (101 atoms) from its MMFF geometry: 320-470 iterations (5 conformers)


@dataclass(frozen=True)
class Molecule:
    """One species as an RDKit molecule with explicit hydrogens and 3D conformers (positions in Å)."""

    name: str
    smiles: str
    mol: Chem.Mol
    conformers: tuple[np.ndarray, ...]  # each (n_atoms, 3), Å

    @property
    def symbols(self) -> list[str]:
        return [atom.GetSymbol() for atom in self.mol.GetAtoms()]

    @property
    def atomic_numbers(self) -> np.ndarray:
        return np.array([atom.GetAtomicNum() for atom in self.mol.GetAtoms()])

    @property
    def formal_charges(self) -> np.ndarray:
        return np.array([atom.GetFormalCharge() for atom in self.mol.GetAtoms()])

    @property
    def charge(self) -> int:
        """Net charge in e, from the formal charges of the SMILES."""
        return int(Chem.GetFormalCharge(self.mol))

    @property
    def mass_amu(self) -> float:
        """Molecular mass in amu (g/mol), with ASE's atomic masses (those of every Atoms built from it)."""
        return float(atomic_masses[self.atomic_numbers].sum())

    @property
    def formula(self) -> str:
        return rdMolDescriptors.CalcMolFormula(self.mol)

    @property
    def bonds(self) -> set[tuple[int, int]]:
        """Bonds as sorted pairs of atom indices (the SMILES graph with hydrogens)."""
        return {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in self.mol.GetBonds()}

    def __len__(self) -> int:
        return self.mol.GetNumAtoms()


def parse_smiles(name: str, smiles: str) -> Chem.Mol:
    """RDKit molecule with explicit hydrogens; SpeciesError naming the species if the SMILES is invalid."""
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None or mol.GetNumAtoms() == 0:
        raise SpeciesError(
            f"species {name!r}: SMILES {smiles!r} is not valid (RDKit could not parse or sanitize it); "
            "check brackets, ring closures, charges and valences"
        )
    if len(Chem.GetMolFrags(mol)) > 1:
        raise SpeciesError(
            f"species {name!r}: SMILES {smiles!r} holds {len(Chem.GetMolFrags(mol))} disconnected molecules; "
            "give each molecule or ion as its own species"
        )
    return Chem.AddHs(mol)


def _relax(mol: Chem.Mol, conf_ids: list[int], method: str) -> None:
    """Relax conformers in place with MMFF94 (UFF where MMFF lacks parameters, e.g. boron) or UFF, then with CL&P
    where a shipped template matches."""
    if method == "none":
        return
    if method == "mmff" and AllChem.MMFFHasAllMoleculeParams(mol):
        props = AllChem.MMFFGetMoleculeProperties(mol)
        for cid in conf_ids:
            AllChem.MMFFGetMoleculeForceField(mol, props, confId=cid).Minimize(maxIts=2000)
    else:
        with quiet_rdkit():  # UFF's typer warns about charged hypervalent atoms (PF6-), then copes
            if AllChem.UFFHasAllMoleculeParams(mol):
                for cid in conf_ids:
                    AllChem.UFFGetMoleculeForceField(mol, confId=cid).Minimize(maxIts=2000)
    _relax_clandp(mol, conf_ids)


def _relax_clandp(mol: Chem.Mol, conf_ids: list[int]) -> None:
    """Minimise conformers in place with the CL&P energy of the isolated molecule (every bonded term, Lennard-Jones
    and Coulomb; OpenMM's Reference platform, no cutoff) where a shipped template matches it; else leave them.

    Templates with excluded angles (PF6-) are left out: which F-P-F triplets are trans depends on the geometry, and
    a broken embedding gets it wrong; `_repaired` builds such ions as ideal polyhedra."""
    from ilflow.classical.forcefield import NoTemplateError, clandp, type_molecule

    pairs = sorted(tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds())
    numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
    try:
        typed = type_molecule(numbers, pairs)
    except NoTemplateError:
        return
    if not typed.bonds or clandp()["molecules"][typed.template].get("excluded_angles"):
        return
    import openmm as mm
    from ase import Atoms

    from ilflow.classical.system import NM_PER_A, TypedBox, build_system

    for cid in conf_ids:
        conformer = mol.GetConformer(cid)
        x = np.array(conformer.GetPositions(), dtype=float)
        box = TypedBox(Atoms(numbers=numbers, positions=x), x, [(np.arange(len(numbers)), typed)])  # not periodic
        system, positions_nm = build_system(box)
        context = mm.Context(system, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName("Reference"))
        context.setPositions(positions_nm)
        mm.LocalEnergyMinimizer.minimize(context, CLANDP_TOLERANCE_KJ_MOL_NM, CLANDP_MAX_ITERATIONS)
        relaxed = context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(mm.unit.nanometer)
        for i, position in enumerate(np.asarray(relaxed) / NM_PER_A):
            conformer.SetAtomPosition(i, position.tolist())


def molecule_from_smiles(
    name: str, smiles: str, n_conformers: int = 1, seed: int = 42, relax: str = "mmff"
) -> Molecule:
    """Embed `n_conformers` 3D conformers with ETKDG (seeded) and optionally relax them.

    `relax`: "mmff" (MMFF94, falling back to UFF where MMFF has no parameters), "uff" or "none"; with "mmff" or
    "uff", ions a shipped CL&P template matches are then minimised with CL&P (their force field in classical MD).
    """
    mol = parse_smiles(name, smiles)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    with quiet_rdkit():  # ETKDG types atoms with UFF, which warns about charged hypervalent atoms (PF6-)
        if n_conformers == 1:
            conf_ids = [AllChem.EmbedMolecule(mol, params)]
            conf_ids = [c for c in conf_ids if c >= 0]
        else:
            params.pruneRmsThresh = 0.1
            conf_ids = list(AllChem.EmbedMultipleConfs(mol, numConfs=n_conformers, params=params))
    if not conf_ids:
        raise SpeciesError(
            f"species {name!r}: RDKit could not embed a 3D structure for SMILES {smiles!r}; "
            "check the SMILES or try another seed"
        )
    _relax(mol, conf_ids, relax)
    conformers = [np.array(mol.GetConformer(cid).GetPositions(), dtype=float) for cid in conf_ids]
    return Molecule(name=name, smiles=smiles, mol=mol, conformers=tuple(_repaired(name, mol, conformers, seed, relax)))


def _repaired(name: str, mol: Chem.Mol, conformers: list[np.ndarray], seed: int, relax: str) -> list[np.ndarray]:
    """The conformers without geometric defects: a broken polyhedral ion (e.g. PF6-) rebuilt as its ideal polyhedron,
    other broken conformers embedded again from random coordinates (RETRIES seeds); SpeciesError if one stays
    broken."""
    reference = reference_bond_lengths_A(mol)
    broken = [k for k, x in enumerate(conformers) if geometry_problems(mol, x, reference)]
    if not broken:
        return conformers
    centre = polyhedral_centre(mol)
    if centre is not None:
        return [ideal_polyhedron(mol, centre, reference)]
    for k in broken:
        for attempt in range(1, RETRIES + 1):
            params = AllChem.ETKDGv3()
            params.randomSeed, params.useRandomCoords = int(seed) + attempt, True
            trial = Chem.Mol(mol)  # embedding replaces a molecule's conformers
            with quiet_rdkit():
                cid = AllChem.EmbedMolecule(trial, params)
            if cid < 0:
                continue
            _relax(trial, [cid], relax)
            x = np.array(trial.GetConformer(cid).GetPositions(), dtype=float)
            if not geometry_problems(mol, x, reference):
                conformers[k] = x
                break
        else:
            problems = geometry_problems(mol, conformers[k], reference)
            symbols = [a.GetSymbol() for a in mol.GetAtoms()]
            defects = "; ".join(p.describe(symbols) for p in problems[:3])
            raise SpeciesError(
                f"species {name!r}: RDKit's 3D structure is broken ({defects}) and {RETRIES} new embeddings did not "
                "mend it; check its SMILES (charges, hypervalent atoms) or try another box.seed")
    return conformers
