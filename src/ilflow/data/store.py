"""The dataset store: labelled frames in ase.db (an SQLite file by default, any ase.db URL accepted).

Each row is one labelled frame or one failure record (`status` "ok" or "failed"), with key-value pairs
`split` (train/validation/test/pool), origin (`stage`, `iteration`, `parent`, `frame`), `method`,
`settings_hash`, `structure_hash` and `wall_time_s`; a failure carries `failure_kind` and, in its data,
the reason and the tail of the program's output. Rows are committed one by one as labels arrive.
"""

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ase.db
import numpy as np
from ase import Atoms

from ilflow.errors import IlflowError
from ilflow.project import atomic_path
from ilflow.reference.base import LabelFailure

SPLITS = ("train", "validation", "test", "pool")
EXTRA_ARRAYS = ("molecule_id", "species_name")  # per-atom arrays ase.db does not keep by itself


def structure_hash(atoms: Atoms, decimals: int = 5) -> str:
    """Identity of a structure: elements, positions and cell rounded to 1e-5 Å, periodicity."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.round(atoms.positions, decimals).astype(np.float64).tobytes() + b"|")
    h.update(np.round(atoms.cell.array, decimals).astype(np.float64).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=bool).tobytes())
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class Origin:
    """Where a frame came from (provenance)."""

    stage: str = "external"
    iteration: int = -1
    parent: str = ""
    frame: int = -1


def _this_sessions_last_id(cursor) -> int:
    """The id of the row this PostgreSQL connection inserted last."""
    cursor.execute("SELECT currval('systems_id_seq')")
    return int(cursor.fetchone()[0])


def _storable(array: np.ndarray):
    """ase.db keeps numeric arrays as they are; string arrays go in as lists of str."""
    array = np.asarray(array)
    return array.astype(str).tolist() if array.dtype.kind in "OUS" else array


class Dataset:
    """An ase.db of labels. `Dataset("data.db")`, or any ase.db URL such as `postgresql://...`."""

    def __init__(self, url: str | Path):
        self.url = str(url)
        if "://" not in self.url:
            if self.url.endswith(".db"):
                refuse_network_filesystem(Path(self.url))
            Path(self.url).parent.mkdir(parents=True, exist_ok=True)
        try:
            by_name = "://" in self.url or self.url.endswith((".json", ".db"))
            self.db = ase.db.connect(self.url, type="extract_from_name" if by_name else "db")
        except ImportError as exc:  # ASE 3.29 moved its server backends into ase-db-backends
            raise IlflowError(f"dataset {self.url!r} needs {exc.name or 'a database driver'}: pip install "
                              "'ilflow[postgresql]'") from None
        except Exception as exc:
            raise IlflowError(f"dataset {self.url!r} cannot be opened as an ase.db: {exc}") from None
        if self.url.startswith(("postgresql://", "postgres://")):
            self._open_postgres()

    def _open_postgres(self) -> None:
        """Connect now, creating ase.db's tables under ilflow's schema lock (processes that start together would
        otherwise create them twice), and give ase the id of the rows this connection writes."""
        from ilflow.data.claims import schema_lock

        # ase-db-backends 0.11 takes a new row's id from the sequence's last value, which another process
        # writing at the same time may have moved on: its rows then get the wrong id (a foreign-key error, or
        # data attached to the other process's row). currval is this connection's own last value.
        self.db.get_last_id = _this_sessions_last_id
        try:
            with schema_lock(self.url):
                self.db.count()
        except Exception as exc:  # psycopg2's errors: the server, the credentials, the database
            reason = " ".join(str(exc).split())
            raise IlflowError(f"dataset {self.url!r} cannot be reached ({reason}); check the URL (host, port, user, "
                              "password, database) and that the server runs (scripts/postgres-local start)") from None

    def claims(self, settings_hash: str):
        """This process's claims on structures to label with `settings_hash` (ilflow.data.claims), a context
        manager; for a dataset that is neither SQLite nor PostgreSQL (an ase.db JSON file) none are kept."""
        from ilflow.data.claims import Claims, NoClaims

        sqlite = "://" not in self.url and self.url.endswith(".db")
        if sqlite or self.url.startswith(("postgresql://", "postgres://")):
            return Claims(self.url, settings_hash)
        return NoClaims()

    def __len__(self) -> int:
        return self.db.count()

    def known(self, settings_hash: str) -> set[str]:
        """Structure hashes already labelled (or recorded as failed) with these reference settings."""
        return {row.structure_hash for row in self.db.select(settings_hash=settings_hash, columns=["key_value_pairs"])}

    def labelled(self, settings_hash: str, hashes: list[str] | None = None) -> dict[str, Atoms]:
        """Successful labels with these reference settings by structure hash (only `hashes`, if given)."""
        wanted = None if hashes is None else set(hashes)
        return {a.info["structure_hash"]: a for a in self.frames(settings_hash=settings_hash)
                if wanted is None or a.info["structure_hash"] in wanted}

    def add(self, result: Atoms | LabelFailure, split: str = "pool", origin: Origin = Origin(),
            method: str = "", settings_hash: str = "") -> int | None:
        """Commit one label or failure record; returns its row id, or None if that structure is already there."""
        if split not in SPLITS:
            raise IlflowError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        failed = isinstance(result, LabelFailure)
        atoms = result.atoms if failed else result
        method = method or atoms.info.get("reference_method", "")
        settings_hash = settings_hash or atoms.info.get("reference_settings_hash", "")
        key = structure_hash(atoms)
        if self.db.count(structure_hash=key, settings_hash=settings_hash) > 0:
            return None
        kvp = {"split": split, "stage": origin.stage, "iteration": int(origin.iteration), "parent": origin.parent,
               "frame": int(origin.frame), "method": method, "settings_hash": settings_hash,
               "structure_hash": key, "status": "failed" if failed else "ok"}
        data = {name: _storable(atoms.arrays[name]) for name in EXTRA_ARRAYS if name in atoms.arrays}
        if failed:
            kvp.update(failure_kind=result.kind, wall_time_s=float(result.wall_time_s))
            data.update(reason=result.reason, output_tail=result.output_tail)
            bare = atoms.copy()
            bare.calc = None
            return self.db.write(bare, key_value_pairs=kvp, data=data)
        kvp["wall_time_s"] = float(atoms.info.get("label_wall_time_s", 0.0))
        return self.db.write(atoms, key_value_pairs=kvp, data=data)

    def frames(self, split: str | None = None, status: str = "ok", **selection) -> Iterator[Atoms]:
        """Frames with their results and provenance in `info` (failures: reason in info['failure_reason'])."""
        if split is not None:
            selection["split"] = split
        if status is not None:
            selection["status"] = status
        for row in self.db.select(**selection):
            atoms = row.toatoms()  # results come back on a SinglePointCalculator
            for name in EXTRA_ARRAYS:
                if name in row.data:
                    atoms.new_array(name, np.asarray(row.data[name]))
            atoms.info.update({k: v for k, v in row.key_value_pairs.items()})
            atoms.info["row_id"] = row.id
            if "reason" in row.data:
                atoms.info["failure_reason"] = str(row.data["reason"])
            yield atoms

    def failures(self) -> list[dict]:
        """Failure records: row id, kind, reason, output tail and origin."""
        return [{"id": row.id, "kind": row.get("failure_kind"), "reason": str(row.data.get("reason", "")),
                 "output_tail": str(row.data.get("output_tail", "")), "stage": row.get("stage"),
                 "frame": row.get("frame")} for row in self.db.select(status="failed")]

    def statistics(self) -> dict:
        """Counts by status, split, stage and method, and the wall time spent on labels."""
        rows = list(self.db.select(columns=["key_value_pairs", "numbers"]))
        wall = sum(float(r.get("wall_time_s", 0.0)) for r in rows)
        return {
            "rows": len(rows),
            "status": dict(Counter(r.get("status") for r in rows)),
            "split": dict(Counter(r.get("split") for r in rows if r.get("status") == "ok")),
            "stage": dict(Counter(r.get("stage") for r in rows)),
            "method": dict(Counter(r.get("method") for r in rows)),
            "atoms": int(sum(r.natoms for r in rows)),
            "label_wall_time_s": round(wall, 2),
        }

    def export(self, path: str | Path, split: str | None = None, status: str = "ok") -> int:
        """Write the selected frames to extxyz atomically; returns how many."""
        from ase.io import write

        frames = list(self.frames(split=split, status=status))
        for atoms in frames:
            atoms.info = {k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float, bool))}
        with atomic_path(path) as tmp:
            write(tmp, frames, format="extxyz")
        return len(frames)


# file systems on which SQLite's locks are unreliable (https://www.sqlite.org/useovernet.html)
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "9p", "fuse.sshfs", "glusterfs",
                       "fuse.glusterfs", "ceph", "fuse.ceph", "lustre", "gpfs", "beegfs", "fuse.beegfs")
ALLOW_NETWORK_FS = "ILFLOW_SQLITE_ON_NETWORK_FS"  # set to 1 to use an SQLite dataset there anyway
MOUNTS = "/proc/mounts"  # the kernel's mount table


def filesystem_of(path: Path) -> tuple[str, str]:
    """(mount point, file system type) of the mount that holds `path`, from the kernel's mount table; ("", "")
    where there is none (not Linux)."""
    try:
        lines = Path(MOUNTS).read_text().splitlines()
    except OSError:
        return "", ""
    target = os.path.realpath(path)
    best = ("", "")
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])  # "\\040": a space
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, fields[2])
    return best


def refuse_network_filesystem(path: Path) -> None:
    """Refuse an SQLite dataset on a network file system: its locks are unreliable there, so two processes
    writing it can lose rows or corrupt the file."""
    point, kind = filesystem_of(path.parent)
    if kind in NETWORK_FILESYSTEMS and os.environ.get(ALLOW_NETWORK_FS) != "1":
        raise IlflowError(
            f"dataset {str(path)!r} is an SQLite file on a network file system ({kind} at {point}), where SQLite's "
            f"locks are unreliable: processes writing it at the same time can lose labels or corrupt it. Put it on "
            f"a local disk, or use a PostgreSQL dataset (--db postgresql://..., see scripts/postgres-local); if "
            f"only one process at a time will ever write it, set {ALLOW_NETWORK_FS}=1 to use it anyway")


def assign_splits(n: int, sizes: dict[str, int], seed: int) -> list[str]:
    """Random split labels for n frames: `sizes` per split (in order), the rest 'pool'."""
    if sum(sizes.values()) > n:
        raise IlflowError(f"split sizes {sizes} add up to more than the {n} frames")
    order = np.random.default_rng(seed).permutation(n)
    labels = np.array(["pool"] * n, dtype=object)
    start = 0
    for name, size in sizes.items():
        labels[order[start:start + size]] = name
        start += size
    return labels.tolist()

