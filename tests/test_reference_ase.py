"""Any ASE calculator as a labeler, and labels through an existing Dask scheduler address."""

import sys

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from conftest import rattled
from ilflow.config.execution import Execution
from ilflow.config.reference import AseReference
from ilflow.data import Dataset
from ilflow.distributed import dask_client
from ilflow.errors import ConfigError
from ilflow.labelling import label_into_dataset
from ilflow.reference import make_labeler


def _copper():
    return rattled(bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2), 3, sigma_A=0.05, seed=2)


def test_ase_labeler_equals_the_calculator():
    frames = _copper()
    labeler = make_labeler(AseReference(method="ase", calculator="ase.calculators.emt:EMT"))
    for frame, result in zip(frames, labeler.label(frames)):
        direct = frame.copy()
        direct.calc = EMT()
        assert result.get_potential_energy() == pytest.approx(direct.get_potential_energy(), abs=1e-12)
        assert np.allclose(result.get_forces(), direct.get_forces(), atol=1e-12)
        assert np.allclose(result.get_stress(), direct.get_stress(), atol=1e-12)
        assert result.info["reference_method"] == "ase:ase.calculators.emt:EMT"


def test_ase_labeler_with_a_wrong_import_path_names_it():
    with pytest.raises(ConfigError, match="ase.calculators.nothere:X"):
        make_labeler(AseReference(method="ase", calculator="ase.calculators.nothere:X"))


def test_labels_through_an_existing_scheduler_address(tmp_path):
    from distributed import LocalCluster

    frames = _copper()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        execution = Execution(cluster="address", address=cluster.scheduler_address)
        dataset = Dataset(tmp_path / "d.db")
        labeler = make_labeler(AseReference(method="ase", calculator="ase.calculators.emt:EMT"))
        with dask_client(execution) as client:
            summary = label_into_dataset(dataset, frames + frames[:1], labeler, client, split="train")
    assert (summary.labelled, summary.skipped_duplicates) == (3, 1)
    assert dataset.statistics()["split"] == {"train": 3}


def test_slurm_without_dask_jobqueue_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # as if not installed: importing it fails
    with pytest.raises(ConfigError, match=r"ilflow\[slurm\]"):
        with dask_client(Execution(cluster="slurm")):
            pass
