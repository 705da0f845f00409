"""Where tasks run (`execution`): an embedded Dask LocalCluster, a scheduler address, or SLURM."""

from typing import Literal

from pydantic import model_validator

from ilflow.config.base import NonNegativeInt, PositiveInt, Section


class Slurm(Section):
    """A dask-jobqueue SLURMCluster: each SLURM job runs Dask workers (cores / threads_per_worker of them) that
    take tasks until the walltime ends the job; jobs that end or die are replaced while tasks wait."""

    cores: PositiveInt = 32
    memory: str = "64GB"
    walltime: str = "24:00:00"
    queue: str | None = None  # the partition
    account: str | None = None
    job_script_extras: list[str] = []  # more #SBATCH directives, e.g. "--constraint=intel"
    # shell lines run before the workers start, e.g. "module load cp2k", or the environment of an MPI launch
    job_script_prologue: list[str] = []
    # the network interface on which the jobs reach the scheduler (this process), e.g. "ib0"; "lo" for a
    # cluster on this machine alone; default: the one of the host name
    interface: str | None = None
    log_directory: str | None = None  # the jobs' output files (default: SLURM's, slurm-JOBID.out in the cwd)
    adaptive_min: NonNegativeInt = 0
    adaptive_max: PositiveInt = 4


class Execution(Section):
    """Task execution for labelling and independent runs."""

    cluster: Literal["local", "address", "slurm"] = "local"
    workers: PositiveInt = 2
    threads_per_worker: PositiveInt = 1
    address: str | None = None  # "tcp://host:8786" when cluster is "address"
    max_retries: NonNegativeInt = 2
    slurm: Slurm | None = None
    # production runs of one group and size (temperatures, seeds) as replicas of one vmapped MD: "auto" where JAX
    # computes on an accelerator (4 replicas of 120 atoms 3.1x, 16 replicas 8.1x the throughput of one on an
    # H200), separate processes on CPU cores (2 cores: replicas 0.73x of two processes)
    production_replicas: Literal["auto", "together", "separate"] = "auto"

    @model_validator(mode="after")
    def _cluster_settings(self) -> "Execution":
        if self.cluster == "address" and not self.address:
            raise ValueError("cluster 'address' needs `address: tcp://HOST:PORT`")
        return self
