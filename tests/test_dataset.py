"""The dataset store: labels and failures committed with provenance, duplicates refused, export and splits."""

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

from conftest import rattled
from ilflow.data import Dataset, Origin, assign_splits, structure_hash
from ilflow.reference import LabelFailure


def _fake_label(atoms, energy):
    """A labelled copy with known numbers (the store must keep them exactly)."""
    out = atoms.copy()
    rng = np.random.default_rng(abs(int(energy)))
    out.calc = SinglePointCalculator(out, energy=energy, forces=rng.normal(size=(len(out), 3)),
                                     stress=rng.normal(size=6))
    out.info.update(reference_method="test", reference_settings_hash="abc", label_wall_time_s=1.5)
    return out


def test_roundtrip_with_provenance_and_arrays(tmp_path, box_2_pairs):
    ds = Dataset(tmp_path / "sub" / "data.db")
    frames = rattled(box_2_pairs, 3)
    labels = [_fake_label(f, -100.0 - k) for k, f in enumerate(frames)]
    for k, lab in enumerate(labels):
        assert ds.add(lab, "train", Origin("classical", 0, "traj.h5", 10 * k)) is not None
    back = list(ds.frames(split="train"))
    assert len(back) == 3
    for lab, got in zip(labels, back):
        assert got.get_potential_energy() == lab.get_potential_energy()
        assert np.array_equal(got.get_forces(), lab.get_forces())
        assert np.array_equal(got.get_stress(), lab.get_stress())
        assert np.array_equal(got.arrays["molecule_id"], lab.arrays["molecule_id"])
        assert list(got.arrays["species_name"]) == list(lab.arrays["species_name"])
        assert (got.info["stage"], got.info["parent"], got.info["method"]) == ("classical", "traj.h5", "test")
        assert got.info["structure_hash"] == structure_hash(lab)


def test_duplicates_are_refused_and_failures_kept(tmp_path, box_2_pairs):
    ds = Dataset(tmp_path / "data.db")
    lab = _fake_label(box_2_pairs, -5.0)
    assert ds.add(lab) is not None
    assert ds.add(_fake_label(box_2_pairs, -6.0)) is None  # same structure, same settings
    moved = box_2_pairs.copy()
    moved.positions[0, 0] += 1e-3
    failure = LabelFailure(moved, "scf_not_converged", "SCF not converged in 250 cycles", "tail...", 2.0)
    assert ds.add(failure, method="test", settings_hash="abc") is not None
    assert len(ds) == 2 and ds.known("abc") == {structure_hash(box_2_pairs), structure_hash(moved)}
    (record,) = ds.failures()
    assert (record["kind"], record["reason"], record["output_tail"]) == ("scf_not_converged",
                                                                          "SCF not converged in 250 cycles", "tail...")
    stats = ds.statistics()
    assert stats["status"] == {"ok": 1, "failed": 1} and stats["atoms"] == 2 * len(box_2_pairs)
    assert stats["label_wall_time_s"] == pytest.approx(3.5)


def test_export_extxyz(tmp_path, box_2_pairs):
    ds = Dataset(tmp_path / "data.db")
    for k, f in enumerate(rattled(box_2_pairs, 4)):
        ds.add(_fake_label(f, -10.0 - k), split="validation" if k % 2 else "train")
    assert ds.export(tmp_path / "val.extxyz", split="validation") == 2
    frames = read(tmp_path / "val.extxyz", ":")
    assert [f.get_potential_energy() for f in frames] == [-11.0, -13.0]
    assert all(f.info["split"] == "validation" for f in frames)


def test_structure_hash_sees_positions_cell_and_elements(box_2_pairs):
    base = structure_hash(box_2_pairs)
    other = box_2_pairs.copy()
    other.positions[3] += 1e-4
    assert structure_hash(other) != base
    other = box_2_pairs.copy()
    other.positions[3] += 1e-7  # below the rounding: the same structure
    assert structure_hash(other) == base
    other = box_2_pairs.copy()
    other.set_cell(other.cell * 1.01)
    assert structure_hash(other) != base


def test_assign_splits_is_seeded_and_exact():
    labels = assign_splits(50, {"test": 10, "validation": 5, "train": 5}, seed=1234)
    assert labels == assign_splits(50, {"test": 10, "validation": 5, "train": 5}, seed=1234)
    assert (labels.count("test"), labels.count("validation"), labels.count("train"), labels.count("pool")) == (10, 5, 5, 30)
