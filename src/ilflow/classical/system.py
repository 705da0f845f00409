"""An OpenMM System for a box (or an isolated cluster) of CL&P-typed molecules.

Terms and force groups (so that each can be evaluated alone): 0 bonds, 1 angles, 2 torsions (proper and
improper), 3 Coulomb (NonbondedForce: PME in a periodic box, exact without one), 4 Lennard-Jones
(CustomNonbondedForce with geometric mixing and the long-range dispersion correction, plus the 1-4 pairs).
OpenMM works in nm, kJ/mol, ps; ilflow's inputs are in Å.
"""

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ilflow.classical.forcefield import SCALE_14, NoTemplateError, TypedMolecule, type_molecule
from ilflow.system.topology import bond_graph, molecule_ids, unwrap_molecules

NM_PER_A = 0.1
GROUPS = {"bonds": 0, "angles": 1, "torsions": 2, "coulomb": 3, "lennard_jones": 4}
_LJ = "4*epsilon*((sigma/r)^12 - (sigma/r)^6)"


@dataclass(frozen=True)
class TypedBox:
    """Every molecule of a frame with its atom indices and CL&P terms, and whole-molecule positions (Å)."""

    atoms: Atoms
    positions_A: np.ndarray  # molecules unwrapped
    molecules: list[tuple[np.ndarray, TypedMolecule]]

    def per_atom(self, name: str) -> np.ndarray:
        out = np.zeros(len(self.atoms))
        for index, typed in self.molecules:
            out[index] = getattr(typed, name)
        return out


def type_box(atoms: Atoms) -> TypedBox:
    """Assign CL&P types to every molecule of `atoms` (molecules from `molecule_id` or the bond graph);
    NoTemplateError names a molecule no template matches."""
    ids = molecule_ids(atoms)
    positions = unwrap_molecules(atoms, ids) if atoms.pbc.any() else atoms.positions.copy()
    bonds = np.array(sorted(bond_graph(atoms)), dtype=int).reshape(-1, 2)
    cache: dict = {}
    molecules = []
    for mol in np.unique(ids):
        index = np.flatnonzero(ids == mol)
        local = {a: k for k, a in enumerate(index)}
        inside = np.isin(bonds[:, 0], index) & np.isin(bonds[:, 1], index)
        own = tuple((local[a], local[b]) for a, b in bonds[inside])
        key = (tuple(atoms.numbers[index]), own)
        if key not in cache:
            cache[key] = type_molecule(atoms.numbers[index], own, positions[index])
        molecules.append((index, cache[key]))
    _check_charges(atoms, molecules)
    return TypedBox(atoms, positions, molecules)


def _check_charges(atoms: Atoms, molecules) -> None:
    """Every molecule's force-field charges sum to its ion charge (and to its formal charges, when the frame has them)."""
    formal = atoms.arrays.get("initial_charges")
    for index, typed in molecules:
        total = typed.charge_e
        expected = round(total) if formal is None or not np.any(formal) else float(np.sum(formal[index]))
        if abs(total - expected) > 1e-6:
            raise NoTemplateError(f"the CL&P charges of {typed.template} (atoms {index[0]}-{index[-1]}) sum to "
                                  f"{total:.6f} e, not {expected:g} e; the frame's formal charges disagree with the "
                                  "force field")


def build_system(box: TypedBox, cutoff_A: float = 12.0, constrain_h: bool = False, ewald_tolerance: float = 5e-4):
    """(openmm.System, positions in nm). Periodic if the frame is (PME, cutoff, dispersion correction),
    else every pair exactly (no cutoff)."""
    import openmm as mm

    atoms = box.atoms
    periodic = bool(atoms.pbc.all())
    system = mm.System()
    for mass in atoms.get_masses():
        system.addParticle(float(mass))
    if periodic:
        system.setDefaultPeriodicBoxVectors(*[mm.Vec3(*(v * NM_PER_A)) for v in atoms.cell.array])

    bonds, angles, torsions = mm.HarmonicBondForce(), mm.HarmonicAngleForce(), mm.PeriodicTorsionForce()
    coulomb = mm.NonbondedForce()
    lj = mm.CustomNonbondedForce(_LJ + "; sigma = sqrt(sigma1*sigma2); epsilon = sqrt(epsilon1*epsilon2)")
    lj14 = mm.CustomBondForce(_LJ)
    for force in (lj, lj14):
        (force.addPerParticleParameter if force is lj else force.addPerBondParameter)("sigma")
        (force.addPerParticleParameter if force is lj else force.addPerBondParameter)("epsilon")
    if periodic:
        coulomb.setNonbondedMethod(mm.NonbondedForce.PME)
        coulomb.setEwaldErrorTolerance(ewald_tolerance)
        lj.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
        lj.setUseLongRangeCorrection(True)
        for force in (coulomb, lj):
            force.setCutoffDistance(cutoff_A * NM_PER_A)
        lj14.setUsesPeriodicBoundaryConditions(True)
    else:
        coulomb.setNonbondedMethod(mm.NonbondedForce.NoCutoff)
        lj.setNonbondedMethod(mm.CustomNonbondedForce.NoCutoff)
    coulomb.setUseDispersionCorrection(False)

    charges, sigma, epsilon = box.per_atom("charges_e"), box.per_atom("sigma_A"), box.per_atom("epsilon_kJ_mol")
    for q, s, e in zip(charges, sigma, epsilon):
        coulomb.addParticle(float(q), 0.1, 0.0)  # Lennard-Jones lives in `lj`
        lj.addParticle([float(s * NM_PER_A), float(e)])
    numbers = atoms.numbers
    for index, typed in box.molecules:
        for i, j, r0, k, _ in typed.bonds:
            a, b = int(index[i]), int(index[j])
            if constrain_h and 1 in (numbers[a], numbers[b]):
                system.addConstraint(a, b, r0 * NM_PER_A)
            else:
                bonds.addBond(a, b, r0 * NM_PER_A, k / NM_PER_A**2)
        for i, j, k, theta0, kt in typed.angles:
            angles.addAngle(int(index[i]), int(index[j]), int(index[k]), theta0, kt)
        for i, j, k, m, v in typed.torsions:  # v_n/2 (1 +- cos n phi) = k (1 + cos(n phi - phase))
            for n, vn in enumerate(v, start=1):
                if vn:
                    phase = 0.0 if n % 2 else np.pi
                    torsions.addTorsion(*(int(index[x]) for x in (i, j, k, m)), n, phase, vn / 2)
        for i, j in typed.excluded:
            a, b = int(index[i]), int(index[j])
            coulomb.addException(a, b, 0.0, 0.1, 0.0)
            lj.addExclusion(a, b)
        for i, j in typed.pairs_14:
            a, b = int(index[i]), int(index[j])
            coulomb.addException(a, b, SCALE_14 * charges[a] * charges[b], 0.1, 0.0)
            lj.addExclusion(a, b)
            lj14.addBond(a, b, [float(np.sqrt(sigma[a] * sigma[b]) * NM_PER_A),
                                float(SCALE_14 * np.sqrt(epsilon[a] * epsilon[b]))])
    for name, force in (("bonds", bonds), ("angles", angles), ("torsions", torsions), ("coulomb", coulomb),
                        ("lennard_jones", lj), ("lennard_jones", lj14)):
        force.setForceGroup(GROUPS[name])
        system.addForce(force)
    return system, box.positions_A * NM_PER_A
