"""Liquid boxes from SMILES: conformers (RDKit), packing (PACKMOL), metadata for every atom."""

import json
from collections.abc import Sequence

import numpy as np
from ase import Atoms

from ilflow import units
from ilflow.config.system import Box, Species
from ilflow.errors import PackingError, SpeciesError
from ilflow.system.packing import PackItem, packed_fraction, run_packmol
from ilflow.system.species import Molecule, molecule_from_smiles
from ilflow.system.topology import bond_graph, density_g_cm3, min_intermolecular_distance, wrap_molecules


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


def build_box(species: Sequence[Species], box: Box) -> Atoms:
    """Pack `count` copies of every species into a periodic box at `box.density_g_cm3`.

    The returned Atoms has per-atom arrays `molecule_id`, `species_name` and `initial_charges` (formal
    charges, e), every molecule whole with its centre of mass inside the cell, and `info` with the
    target density, tolerance, seed and the species (JSON).
    """
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

    positions = run_packmol(items, lengths, box.tolerance_A, box.seed, box.packmol_timeout_s)

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
    atoms.info.update(
        target_density_g_cm3=float(box.density_g_cm3),
        tolerance_A=float(box.tolerance_A),
        seed=int(box.seed),
        total_charge_e=int(total_charge),
        species=json.dumps([{"name": s.name, "smiles": s.smiles, "count": s.count} for s in species]),
    )
    atoms = wrap_molecules(atoms, atoms.arrays["molecule_id"])
    _check_intact(atoms, molecules, items, owners)
    return atoms


def _check_intact(atoms: Atoms, molecules: Sequence[Molecule], items, owners) -> None:
    """Every packed molecule keeps exactly its SMILES bond graph (no bond to a neighbour, none broken)."""
    found = bond_graph(atoms)
    start = 0
    for item, owner in zip(items, owners):
        template = molecules[owner].bonds
        for _ in range(item.number):
            n = len(molecules[owner])
            local = {(a - start, b - start) for a, b in found if start <= a < start + n or start <= b < start + n}
            if local != template:
                raise PackingError(
                    f"packed copy of {molecules[owner].name} at atoms {start}-{start + n - 1} does not keep its "
                    "bond graph (atoms of two molecules closer than a bond); raise box.tolerance_A"
                )
            start += n


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
