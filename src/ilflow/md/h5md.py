"""Trajectories in H5MD 1.1 (de Buyl et al. 2014), readable by h5py, MDAnalysis and znh5md.

/particles/trajectory: position, box/edges (triclinic: value is (frames, 3, 3)), optional velocity, species
(atomic numbers) and mass; /observables: per-frame scalars (energies, temperature, pressure, uncertainty).
Every element has value/step/time; units as attributes. Frames are appended and flushed chunk by chunk; on
restart the file is cut back to the frames the checkpoint knows, so nothing is duplicated.
"""

from pathlib import Path

import h5py
import numpy as np

from ilflow import __version__

OBSERVABLE_UNITS = {"potential_energy": "eV", "kinetic_energy": "eV", "conserved_energy": "eV", "temperature": "K",
                    "pressure": "bar", "force_uncertainty": "eV/Angstrom", "density": "g/cm^3"}


PRESSURE_TENSOR = "observables/pressure_tensor"  # (3, 3) eV/Å^3 at its own steps, more often than frames


class H5MDWriter:
    def __init__(self, path: str | Path, numbers: np.ndarray, masses: np.ndarray, velocities: bool = False,
                 pressure_tensor: bool = False):
        self.path = Path(path)
        self.velocities = velocities
        new = not self.path.exists()
        self.file = h5py.File(self.path, "a")
        if new:
            self._create(np.asarray(numbers), np.asarray(masses))
        if pressure_tensor and PRESSURE_TENSOR not in self.file:
            self._element(self.file.require_group("observables"), "pressure_tensor", (3, 3), "eV Angstrom-3")
        self.pressure_tensor = PRESSURE_TENSOR in self.file

    def _create(self, numbers, masses):
        f = self.file
        h5md = f.create_group("h5md")
        h5md.attrs["version"] = np.array([1, 1])
        h5md.create_group("author").attrs["name"] = "ilflow"
        creator = h5md.create_group("creator")
        creator.attrs["name"], creator.attrs["version"] = "ilflow", __version__
        particles = f.create_group("particles/trajectory")
        box = particles.create_group("box")
        box.attrs["dimension"] = 3
        box.attrs["boundary"] = np.array([b"periodic"] * 3)
        n = len(numbers)
        self._element(box, "edges", (3, 3), "Angstrom")
        self._element(particles, "position", (n, 3), "Angstrom")
        if self.velocities:
            self._element(particles, "velocity", (n, 3), "Angstrom fs-1")
        particles.create_dataset("species", data=numbers.astype(np.int32))
        particles.create_dataset("mass", data=masses.astype(float)).attrs["unit"] = "amu"
        for name, unit in OBSERVABLE_UNITS.items():
            self._element(f.require_group("observables"), name, (), unit)

    @staticmethod
    def _element(group, name, shape, unit):
        g = group.create_group(name)
        g.create_dataset("value", shape=(0, *shape), maxshape=(None, *shape), dtype=float,
                         chunks=(max(1, 4096 // max(1, int(np.prod(shape)))), *shape)).attrs["unit"] = unit
        g.create_dataset("step", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(4096,))
        g.create_dataset("time", shape=(0,), maxshape=(None,), dtype=float, chunks=(4096,)).attrs["unit"] = "fs"

    def _elements(self):
        names = ["particles/trajectory/box/edges", "particles/trajectory/position"] + (
            ["particles/trajectory/velocity"] if self.velocities else []) + [f"observables/{k}" for k in OBSERVABLE_UNITS]
        return [self.file[name] for name in names]

    @property
    def n_frames(self) -> int:
        return int(self.file["particles/trajectory/position/step"].shape[0])

    def append(self, frames: dict[str, np.ndarray]) -> None:
        """frames: step, time_fs, cell, positions, [velocities], and one array per observable."""
        values = {"particles/trajectory/box/edges": frames["cell"], "particles/trajectory/position": frames["positions"],
                  "particles/trajectory/velocity": frames.get("velocities")}
        values.update({f"observables/{k}": frames[k] for k in OBSERVABLE_UNITS})
        for group in self._elements():
            _extend(group, np.asarray(values[group.name.lstrip("/")]), frames["step"], frames["time_fs"])
        if self.pressure_tensor and "pressure_tensor" in frames:  # (frames, samples per frame, 3, 3)
            group = self.file[PRESSURE_TENSOR]
            steps = np.asarray(frames["pressure_tensor_step"]).reshape(-1)
            before = np.concatenate([[group["step"][-1] if group["step"].shape[0] else -1],
                                     np.maximum.accumulate(steps)[:-1]])
            new = steps > before  # a run that stopped inside a frame repeats its last state: written once
            _extend(group, np.asarray(frames["pressure_tensor"]).reshape(-1, 3, 3)[new], steps[new],
                    np.asarray(frames["pressure_tensor_time_fs"]).reshape(-1)[new])
        self.file.flush()

    def truncate(self, n_frames: int) -> None:
        """Back to the first n_frames frames (and the pressure-tensor samples up to the last of them)."""
        for group in self._elements():
            _resize(group, min(n_frames, group["step"].shape[0]))
        if self.pressure_tensor:
            steps = self.file["particles/trajectory/position/step"]
            last = int(steps[-1]) if steps.shape[0] else -1
            tensor = self.file[PRESSURE_TENSOR]
            _resize(tensor, int(np.searchsorted(tensor["step"][:], last, side="right")))
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _extend(group, values: np.ndarray, steps: np.ndarray, time_fs: np.ndarray) -> None:
    start = group["step"].shape[0]
    for key, arr in (("value", values), ("step", steps), ("time", time_fs)):
        group[key].resize(start + len(arr), axis=0)
        group[key][start:] = arr


def _resize(group, n: int) -> None:
    for key in ("value", "step", "time"):
        group[key].resize(n, axis=0)


def pressure_tensor_series(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps, times fs, pressure tensors (n, 3, 3) eV/Å^3) of a trajectory, None if it has no such series."""
    with h5py.File(path, "r") as f:
        if PRESSURE_TENSOR not in f:
            return None
        group = f[PRESSURE_TENSOR]
        return group["step"][:], group["time"][:], group["value"][:]


PER_ATOM_METADATA = ("molecule_id", "species_name", "initial_charges")


def atoms_frames(path: str | Path, template, frames=slice(None)) -> list:
    """Frames of a trajectory written by H5MDWriter as periodic ase.Atoms with the atoms of `template`, its
    per-atom metadata (molecule ids, species names, charges) and info["md_step"]. `frames`: a slice."""
    from ase import Atoms

    with h5py.File(path, "r") as f:
        group = f["particles/trajectory"]
        positions = group["position/value"][frames]
        cells = group["box/edges/value"][frames]
        steps = group["position/step"][frames]
    out = []
    for x, cell, step in zip(positions, cells, steps):
        atoms = Atoms(template.numbers, positions=x, cell=cell, pbc=True)
        for name in PER_ATOM_METADATA:
            if name in template.arrays:
                atoms.new_array(name, template.arrays[name])
        atoms.info["md_step"] = int(step)
        out.append(atoms)
    return out
