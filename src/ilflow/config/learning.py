"""Learning on the fly (`learning`): initial data, then a schedule of iterations (paper Table 1)."""

from typing import Annotated, Literal, Union

from pydantic import Field, model_serializer, model_validator

from ilflow.config.base import (
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Section,
    Seed,
)
from ilflow.config.dispersion import D3
from ilflow.config.model import Training
from ilflow.config.modifiers import BoxRamp, TemperatureRamp


class InitialData(Section):
    """Iteration 0: frames from classical MD (or a bootstrap, or a file), labelled and split."""

    source: Literal["classical", "bootstrap", "file"] = "classical"
    file: str | None = None  # extxyz/ase.db path when source is "file"
    frames: PositiveInt = 200
    temperature_K: PositiveFloat = 500.0
    density_g_cm3: PositiveFloat | None = None  # default: the box density
    duration_ps: PositiveFloat = 100.0
    n_train: PositiveInt = 100
    n_validation: PositiveInt = 100
    n_test: NonNegativeInt = 0
    n_selected: NonNegativeInt = 0  # frames added to training by batch selection from the rest
    outlier_sigma: PositiveFloat | None = 3.0
    split_seed: Seed = 1234

    @model_validator(mode="after")
    def _enough_frames(self) -> "InitialData":
        used = self.n_train + self.n_validation + self.n_test + self.n_selected
        if used > self.frames:
            raise ValueError(f"n_train + n_validation + n_test + n_selected = {used} exceeds frames = {self.frames}")
        if self.source == "file" and not self.file:
            raise ValueError("source 'file' needs `file: PATH`")
        return self


class MDSampler(Section):
    """MD with the current ensemble until it becomes uncertain."""

    kind: Literal["md"]
    ensemble: Literal["nvt_langevin", "nvt_nose_hoover", "npt", "nve"] = "nvt_langevin"
    temperature_K: PositiveFloat = 298.15
    pressure_bar: PositiveFloat | None = None
    density_g_cm3: PositiveFloat | None = None  # NVT start box; default the box density
    timestep_fs: PositiveFloat = 0.5
    steps: PositiveInt = 50_000
    frame_interval: PositiveInt = 10
    friction_per_ps: PositiveFloat = 1.0
    uncertainty_threshold_eV_A: PositiveFloat = 0.5
    temperature_ramp: TemperatureRamp | None = None
    box_ramp: BoxRamp | None = None
    # previous: the last MD frame of the iteration before (the study; without a relaxation in between that is the
    # frame at which the ensemble became uncertain); relaxed: the last relaxed frame; initial: the last frame of
    # the initial data (an equilibrated liquid; every iteration then starts from the same structure);
    # initial_frames: a frame of the initial data drawn per iteration and replica (as many starting structures as
    # the initial data has frames); fresh_box: a newly packed box
    start: Literal["previous", "relaxed", "initial", "initial_frames", "fresh_box"] = "previous"
    replicas: PositiveInt = 1
    # D3 added to the ensemble in this MD, as a hybrid model adds it in production: learning from dispersion-free
    # labels then samples the denser, more structured liquid the hybrid visits (D3 every 4 fs of MD, as in
    # production's default `dispersion_step_fs`)
    run_time_d3: D3 | None = None

    @model_validator(mode="after")
    def _npt_needs_pressure(self) -> "MDSampler":
        if self.ensemble == "npt" and self.pressure_bar is None:
            raise ValueError("ensemble 'npt' needs pressure_bar")
        return self

    @model_serializer(mode="wrap")
    def _without_unused_d3(self, handler):
        # absent when unused: the sampling stages of campaigns written before this key keep their identities
        data = handler(self)
        if self.run_time_d3 is None:
            data.pop("run_time_d3", None)
        return data


class RelaxSampler(Section):
    """FIRE relaxation from the last MD frame; its frames join the candidate pool."""

    kind: Literal["relax"]
    fmax_eV_A: PositiveFloat = 0.5
    max_steps: PositiveInt = 1000
    uncertainty_threshold_eV_A: PositiveFloat | None = None  # stop where the model stops knowing (None: never)


class ConformerSampler(Section):
    """RDKit conformers packed into fresh boxes."""

    kind: Literal["conformers"]
    boxes: PositiveInt = 20
    density_g_cm3: PositiveFloat = 0.9
    n_conformers: PositiveInt = 200
    seed: Seed = 42


class VolumeScanSampler(Section):
    """Relaxed boxes scaled over a range of volume factors, molecules kept rigid."""

    kind: Literal["volume_scan"]
    boxes: PositiveInt = 5
    factor_min: PositiveFloat = 0.9
    factor_max: PositiveFloat = 2.0
    points: PositiveInt = 100
    picks: PositiveInt = 50

    @model_validator(mode="after")
    def _range(self) -> "VolumeScanSampler":
        if self.factor_min >= self.factor_max:
            raise ValueError(f"factor_min ({self.factor_min}) must be smaller than factor_max ({self.factor_max})")
        return self


class RattleSampler(Section):
    """Copies of earlier iterations' candidates with every atom displaced by a Gaussian of `displacement_A` per
    Cartesian component: the stretched and compressed bonds that MD at the sampling temperatures reaches only rarely
    (a C-H bond at 353 K has a thermal spread of about 0.03 Å; 0.04 Å per component spreads bond lengths by 0.06)."""

    kind: Literal["rattle"]
    copies: PositiveInt = 32
    displacement_A: PositiveFloat = 0.04
    seed: Seed = 42


class ContactSampler(Section):
    """Copies of earlier iterations' candidates in which one molecule is moved rigidly towards a neighbour until
    their closest atoms (e.g. H...F of a cation and an anion) are closer than MD at the sampling temperatures brings
    them: the repulsive wall between molecules, which a model learns only as far as its labels reach. The pair's new
    distance is drawn between `fractions` of the sum of their van der Waals radii (Bondi; H...F 2.67 Å, H...H 2.40 Å),
    and it stays the closest contact of the frame, relative to that sum. Each kind of contact (pair of elements)
    within reach is drawn equally often."""

    kind: Literal["contacts"]
    copies: PositiveInt = 24
    fractions: tuple[PositiveFloat, PositiveFloat] = (0.55, 0.68)  # H...F 1.47-1.82 Å, H...H 1.32-1.63 Å
    seed: Seed = 42

    @model_validator(mode="after")
    def _range(self) -> "ContactSampler":
        low, high = self.fractions
        if not low < high < 1.0:
            raise ValueError(f"fractions {list(self.fractions)} must rise and stay below 1 (the van der Waals contact)")
        return self


class BondSampler(Section):
    """Copies of earlier iterations' candidates in which one covalent bond is stretched or compressed to the far end
    of its thermal spread: `deviations` standard deviations of the lengths its kind of bond has in the earlier
    candidates (a kind: both elements and their numbers of bonds, so that an alkyl C-C is not a ring C-C). MD of 20 ps
    at 353 K reaches about 4 standard deviations on some bond of a 4-pair box; a few hundred labelled frames hold
    about 3.4 (an alkyl C-C of 1.39 Å stopped such a run, 3.7 below the mean, shorter than any of 3240 labelled ones).
    The two atoms move along their bond with their centre of mass fixed; each kind of bond is drawn equally often."""

    kind: Literal["bonds"]
    copies: PositiveInt = 24
    deviations: tuple[PositiveFloat, PositiveFloat] = (3.0, 4.5)  # drawn uniformly, stretched or compressed
    seed: Seed = 42

    @model_validator(mode="after")
    def _range(self) -> "BondSampler":
        low, high = self.deviations
        if not low < high:
            raise ValueError(f"deviations {list(self.deviations)} must rise (standard deviations from the mean length)")
        return self


Sampler = Annotated[
    Union[MDSampler, RelaxSampler, ConformerSampler, VolumeScanSampler, RattleSampler, ContactSampler, BondSampler],
    Field(discriminator="kind"),
]


class Selection(Section):
    """Which candidates get labelled."""

    method: Literal["random", "maxdist"] = "maxdist"
    frames: PositiveInt = 50
    pool_cap: PositiveInt = 20_000  # above this pool size, pre-thin randomly
    # the frame at which an MD stopped on the uncertainty rule is taken first (counted in `frames`), before MaxDist:
    # it is the one frame known to lie where the ensemble disagrees, and MaxDist on a pool of thousands of ordinary
    # frames rarely picks it
    stop_frames_first: bool = True
    seed: Seed = 0


class Iteration(Section):
    """One learning-on-the-fly iteration (or `repeat` identical ones)."""

    name: str | None = None
    repeat: PositiveInt = 1
    samplers: Annotated[list[Sampler], Field(min_length=1)]
    selection: Selection = Selection()
    training: Training | None = None  # default: learning.iteration_training, else model.training


class Learning(Section):
    """The whole learning schedule."""

    initial: InitialData = InitialData()
    iteration_training: Training | None = None  # warm-started retraining of iterations 1..n (default: model.training)
    iterations: list[Iteration] = []
