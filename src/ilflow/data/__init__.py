"""The dataset store (ase.db): labels, failure records, provenance, splits, export and statistics."""

from ilflow.data.store import SPLITS, Dataset, Origin, assign_splits, structure_hash

__all__ = ["SPLITS", "Dataset", "Origin", "assign_splits", "structure_hash"]
