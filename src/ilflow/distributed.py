"""Dask execution: an embedded LocalCluster (default), an existing scheduler, or SLURM (dask-jobqueue).

A task submitted through `with_log` logs on its worker as it would in the client: its `ilflow` log records (the
progress lines of an MD, for one) travel as Dask events to the client, which logs them again under the task's
label, so that a production run on a SLURM node shows its progress in the terminal or log file of `ilflow run`.
"""

import logging
import sys
import threading
from contextlib import contextmanager
from collections.abc import Iterator

import dask

from ilflow.config.execution import Execution
from ilflow.errors import ConfigError


@contextmanager
def dask_client(execution: Execution = Execution()) -> Iterator["distributed.Client"]:  # noqa: F821
    """A distributed.Client for the campaign's `execution` section, closed (with its cluster) on exit.

    Local workers are processes with `threads_per_worker` threads and OMP_NUM_THREADS set to match, so
    that OpenMP codes (tblite, CP2K) do not oversubscribe the cores. A worker that dies mid-task is
    replaced and its task retried; after `max_retries` deaths the task is reported as failed.
    """
    from distributed import Client, LocalCluster

    threads = str(execution.threads_per_worker)
    settings = {"distributed.scheduler.allowed-failures": execution.max_retries,
                "distributed.worker.daemon": False}
    with dask.config.set(settings):
        if execution.cluster == "local":
            cluster = LocalCluster(
                n_workers=execution.workers, threads_per_worker=execution.threads_per_worker, processes=True,
                dashboard_address=":0",  # a free port: 8787 may be taken (a warning in every log)
                env={"OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads},
            )
        elif execution.cluster == "address":
            cluster = None
        else:
            cluster = _slurm_cluster(execution)
        try:
            client = Client(cluster if cluster is not None else execution.address)
        except OSError as exc:
            raise ConfigError(f"execution.address {execution.address!r}: cannot reach the Dask scheduler ({exc})") from None
        client.subscribe_topic(LOG_TOPIC, _log_again)
        try:
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def _slurm_cluster(execution: Execution):
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ConfigError("execution.cluster 'slurm' needs dask-jobqueue: pip install 'ilflow[slurm]'") from None
    slurm = execution.slurm
    if slurm is None:
        from ilflow.config.execution import Slurm

        slurm = Slurm()
    threads = execution.threads_per_worker
    cluster = SLURMCluster(
        cores=slurm.cores, processes=max(1, slurm.cores // threads), memory=slurm.memory,
        walltime=slurm.walltime, queue=slurm.queue, account=slurm.account, interface=slurm.interface,
        log_directory=slurm.log_directory, python=sys.executable,  # this interpreter: the one that imports ilflow
        job_script_prologue=[f"export OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} "
                             f"MKL_NUM_THREADS={threads}", *slurm.job_script_prologue],
        job_extra_directives=list(slurm.job_script_extras),
    )
    cluster.adapt(minimum_jobs=slurm.adaptive_min, maximum_jobs=slurm.adaptive_max)
    return cluster


LOG_TOPIC = "ilflow-log"


class _Forward(logging.Handler):
    """On a worker: the records of one task's thread, sent to the client as Dask events."""

    def __init__(self, label: str):
        super().__init__(logging.INFO)
        self.label, self.thread = label, threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        from distributed import get_worker

        if record.thread != self.thread:  # another task on a worker with several threads
            return
        event = {"name": record.name, "levelno": record.levelno, "levelname": record.levelname,
                 "msg": f"{self.label}: {record.getMessage()}", "created": record.created, "task": self.label}
        if getattr(record, "progress", None) is not None:
            event["progress"] = record.progress
        get_worker().log_event(LOG_TOPIC, event)


def _log_again(event) -> None:
    """On the client: a forwarded record, logged again by the logger that wrote it on the worker."""
    _, fields = event
    logging.getLogger(fields["name"]).handle(logging.makeLogRecord(fields))


def with_log(label: str, interval_s: float, function, *args, **kwargs):
    """Run `function(*args, **kwargs)` on a worker with its `ilflow` log forwarded to the client under `label`,
    progress lines at most every `interval_s` seconds (the client's setting: submit it as an argument)."""
    from ilflow import progress

    root = logging.getLogger("ilflow")
    root.setLevel(logging.INFO)  # a worker process logs nothing else of ilflow's: no handler but this one
    progress.INTERVAL_S = interval_s
    handler = _Forward(label)
    root.addHandler(handler)
    try:
        return function(*args, **kwargs)
    finally:
        root.removeHandler(handler)
