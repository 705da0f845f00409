"""Records of the learning loop's stages (JSON round trip through `ilflow.records.Record`)."""

from dataclasses import dataclass

from ilflow.records import Record
from ilflow.training.metrics import ErrorTable


@dataclass(frozen=True)
class SamplerRun(Record):
    """What one sampler did: MD steps and why it stopped (md), or frames made (the others)."""

    sampler: str
    frames: int
    replica: int = 0
    steps_run: int | None = None
    steps_planned: int | None = None
    stop_reason: str = ""
    simulated_ps: float = 0.0
    mean_temperature_K: float | None = None


@dataclass(frozen=True)
class SamplingRecord(Record):
    samplers: list[SamplerRun]
    candidates: int
    unphysical_dropped: int
    sample_s: float


@dataclass(frozen=True)
class SelectionRecord(Record):
    method: str
    pool: int
    selected: int
    select_s: float
    stop_frames: int = 0  # of `selected`: frames at which an MD stopped on the uncertainty rule, taken first


@dataclass(frozen=True)
class LabelRecord(Record):
    """Structure hashes of a labels stage: `splits` maps split -> hashes (iteration 0: train, validation, test,
    pool; later iterations: train); labels already in the dataset were reused, not computed again."""

    splits: dict[str, list[str]]
    failed: list[str]
    computed: int
    reused: int
    label_s: float
    outliers: int = 0

    @property
    def hashes(self) -> list[str]:
        return [h for split in self.splits.values() for h in split] + self.failed


@dataclass(frozen=True)
class TrainingRecord(Record):
    """The training set of a model (hashes), its validation/test errors, and every hash labelled so far."""

    train: list[str]
    validation_hashes: list[str]
    test_hashes: list[str]
    known: list[str]
    validation: ErrorTable
    test: ErrorTable | None
    train_s: float

    @property
    def train_frames(self) -> int:
        return len(self.train)


@dataclass(frozen=True)
class IterationRecord(Record):
    """One row of the learning history."""

    iteration: int
    name: str
    md_steps_run: int | None
    md_stop: str
    simulated_ps: float
    candidates: int
    selected: int
    labelled: int
    failed: int
    train_size: int
    sample_s: float
    select_s: float
    label_s: float
    train_s: float
    validation: ErrorTable | None = None
    test: ErrorTable | None = None

    def forces_mae_meV_A(self, split: str) -> float | None:
        table = self.validation if split == "validation" else self.test
        return table.forces_mae_meV_A if table else None


@dataclass(frozen=True)
class FinalModelRecord(Record):
    """A final model: the labels it was trained on (in words), its training set size and errors."""

    name: str
    labels: str
    train_frames: int
    validation: ErrorTable
    test: ErrorTable | None
    train_s: float
    warm_started: bool = False
