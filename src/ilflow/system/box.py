"""Liquid boxes from SMILES: conformers (RDKit), packing (PACKMOL), metadata for every atom."""

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ilflow import units
from ilflow.config.system import Box, Species
from ilflow.errors import PackingError, SpeciesError
from ilflow.system.packing import PackItem, packed_fraction, run_packmol
from ilflow.system.species import Molecule, molecule_from_smiles
from ilflow.system.topology import bond_graph, density_g_cm3, min_intermolecular_distance, wrap_molecules

MAX_ATTEMPTS = 20  # PACKMOL runs before giving up on a box
CLEARANCE_FRACTION = 0.75  # accepted closest contact between molecules (and images), times the tolerance


def build_molecules(species: Sequence[Species], seed: int = 42, relax: str = "mmff") -> list[Molecule]:
    """One Molecule per species, with `species.conformers` conformers each."""
    return [molecule_from_smiles(s.name, s.smiles, s.conformers, seed, relax) for s in species]


def cell_lengths_A(mass_amu: float, density: float, aspect_ratio=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Edges (Å) of the orthorhombic box with edge ratios `aspect_ratio` holding `mass_amu` at `density` g/cm3."""
    ratios = np.asarray(aspect_ratio, dtype=float)
    volume = units.volume_A3_for_density(mass_amu, density)
    return ratios * (volume / np.prod(ratios)) ** (1.0 / 3.0)


def check_net_charge(molecules: Sequence[Molecule], counts: Sequence[int], allow_net_charge: bool) -> int:
    """Total charge (e) of the box; SpeciesError unless it is zero or net charge is allowed."""
    total = sum(m.charge * n for m, n in zip(molecules, counts))
    if total != 0 and not allow_net_charge:
        parts = ", ".join(f"{n} x {m.name} ({m.charge:+d})" for m, n in zip(molecules, counts))
        raise SpeciesError(
            f"the box would carry a net charge of {total:+d} e ({parts}); change the counts so that the "
            "charges cancel, or set box.allow_net_charge: true"
        )
    return total


def _pack_items(molecules: Sequence[Molecule], counts: Sequence[int]) -> tuple[list[PackItem], list[int]]:
    """PACKMOL blocks (copies spread round-robin over each species' conformers) and the species of each block."""
    items, owners = [], []
    for k, (molecule, count) in enumerate(zip(molecules, counts)):
        n_conf = len(molecule.conformers)
        for c, positions in enumerate(molecule.conformers):
            number = count // n_conf + (1 if c < count % n_conf else 0)
            if number:
                items.append(PackItem(molecule.symbols, positions, number))
                owners.append(k)
    return items, owners


@dataclass(frozen=True)
class BoxPlan:
    """What PACKMOL will be given: the molecules (conformers), the blocks to pack, the cell, the net charge and
    the estimated fraction of the cell the molecules fill."""

    molecules: list[Molecule]
    items: list[PackItem]
    owners: list[int]
    lengths_A: np.ndarray
    charge_e: int
    packed_fraction: float


def plan_box(species: Sequence[Species], box: Box) -> BoxPlan:
    """Every check of a box that takes seconds, before PACKMOL: SMILES parse (SpeciesError), net charge, and the
    packing pre-check (PackingError when the molecules would fill more than `box.max_packed_fraction`)."""
    counts = [s.count for s in species]
    molecules = build_molecules(species, box.seed, box.relax)
    total_charge = check_net_charge(molecules, counts, box.allow_net_charge)
    mass = sum(m.mass_amu * n for m, n in zip(molecules, counts))
    lengths = cell_lengths_A(mass, box.density_g_cm3, box.aspect_ratio)
    items, owners = _pack_items(molecules, counts)
    fraction = packed_fraction(items, lengths, box.tolerance_A)
    if fraction > box.max_packed_fraction:
        raise PackingError(
            f"density {box.density_g_cm3} g/cm3 cannot be packed with tolerance {box.tolerance_A} Å: the molecules "
            f"would fill {fraction:.2f} of the box (limit box.max_packed_fraction = {box.max_packed_fraction}). "
            "Pack at a lower density (e.g. 0.9 g/cm3) and compress with ilflow.system.rescale_to_density, "
            "or lower box.tolerance_A"
        )
    return BoxPlan(molecules, items, owners, lengths, total_charge, fraction)


def build_box(species: Sequence[Species], box: Box) -> Atoms:
    """Pack `count` copies of every species into a periodic box at `box.density_g_cm3`.

    The returned Atoms has per-atom arrays `molecule_id`, `species_name` and `initial_charges` (formal
    charges, e), every molecule whole with its centre of mass inside the cell, and `info` with the
    target density, tolerance, seed and the species (JSON).
    """
    plan = plan_box(species, box)
    molecules, items, owners, lengths = plan.molecules, plan.items, plan.owners, plan.lengths_A

    # PACKMOL keeps different molecules apart across the periodic boundary but not a molecule from its own
    # images: in a box not much larger than a molecule a random orientation can touch itself. Such packings
    # are rejected and PACKMOL is run again with the next derived seed (deterministic for a given seed).
    clearance = CLEARANCE_FRACTION * box.tolerance_A
    worst = 0.0
    for attempt in range(MAX_ATTEMPTS):
        seed = box.seed + attempt * 7919
        positions = run_packmol(items, lengths, box.tolerance_A, seed, box.packmol_timeout_s)
        atoms = _assemble(positions, lengths, items, owners, molecules)
        if _is_intact(atoms, molecules, items, owners):
            closest = min_intermolecular_distance(atoms, atoms.arrays["molecule_id"], cutoff=box.tolerance_A)
            if closest >= clearance:
                break
            worst = max(worst, closest)
    else:
        raise PackingError(
            f"no packing in {MAX_ATTEMPTS} PACKMOL runs keeps every molecule {clearance:.2f} Å from the others and from "
            f"its own periodic images (best {worst:.2f} Å) in a {' x '.join(f'{x:.2f}' for x in lengths)} Å box; "
            "every molecule's own geometry passed its checks (bond lengths, angles, contacts), so the box is at fault: "
            "use more molecules (a larger box) or a lower box.tolerance_A"
        )
    atoms.info.update(
        target_density_g_cm3=float(box.density_g_cm3),
        tolerance_A=float(box.tolerance_A),
        seed=int(box.seed),
        packmol_seed=int(seed),
        total_charge_e=int(plan.charge_e),
        species=json.dumps([{"name": s.name, "smiles": s.smiles, "count": s.count} for s in species]),
    )
    return wrap_molecules(atoms, atoms.arrays["molecule_id"])


def _assemble(positions: np.ndarray, lengths: np.ndarray, items, owners, molecules) -> Atoms:
    """Atoms in the packed order with per-atom molecule_id, species_name and formal charges."""
    symbols, mol_ids, names, charges = [], [], [], []
    next_id = 0
    for item, owner in zip(items, owners):
        molecule = molecules[owner]
        for _ in range(item.number):
            symbols += molecule.symbols
            mol_ids += [next_id] * len(molecule)
            names += [molecule.name] * len(molecule)
            charges += molecule.formal_charges.tolist()
            next_id += 1
    atoms = Atoms(symbols, positions=positions, cell=np.diag(lengths), pbc=True)
    atoms.new_array("molecule_id", np.array(mol_ids, dtype=int))
    atoms.new_array("species_name", np.array(names, dtype=str))
    atoms.set_initial_charges(np.array(charges, dtype=float))
    return atoms


def _is_intact(atoms: Atoms, molecules: Sequence[Molecule], items, owners) -> bool:
    """Every packed molecule has exactly its SMILES bond graph (no bond to a neighbour or to its own image)."""
    found = bond_graph(atoms)
    start = 0
    for item, owner in zip(items, owners):
        template = molecules[owner].bonds
        n = len(molecules[owner])
        for _ in range(item.number):
            local = {(a - start, b - start) for a, b in found if start <= a < start + n or start <= b < start + n}
            if local != template:
                return False
            start += n
    return True


def summarize(atoms: Atoms) -> str:
    """One line: atoms, molecules per species, box edges, density, charge, closest intermolecular contact."""
    names = atoms.arrays.get("species_name")
    mol_ids = atoms.arrays.get("molecule_id")
    parts = []
    if names is not None and mol_ids is not None:
        _, first = np.unique(mol_ids, return_index=True)
        species, n = np.unique(names[first], return_counts=True)
        order = np.argsort([np.flatnonzero(names == s)[0] for s in species])
        parts.append(", ".join(f"{n[k]} {species[k]}" for k in order))
    edges = " x ".join(f"{x:.2f}" for x in atoms.cell.lengths())
    charge = atoms.get_initial_charges().sum()
    return (
        f"{len(atoms)} atoms ({'; '.join(parts) or 'no molecule labels'}), box {edges} Å, "
        f"density {density_g_cm3(atoms):.3f} g/cm3, charge {charge:+g} e, "
        f"closest intermolecular contact {min_intermolecular_distance(atoms, mol_ids):.2f} Å"
    )
