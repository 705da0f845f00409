"""The learned potential (`model`): GMNN ensemble, optional run-time D3, default training settings."""

from typing import Annotated, Literal

from pydantic import Field, model_serializer, model_validator

from ilflow.config.base import NonNegativeFloat, PositiveFloat, PositiveInt, Section, Seed
from ilflow.config.dispersion import D3


Dispersion = D3  # D3(BJ) added to the learned energy at run time (E = E_MLP + E_D3)


class LearningRates(Section):
    """Adam learning rates per parameter group (paper values)."""

    contraction: PositiveFloat = 0.01
    network: PositiveFloat = 0.005
    scale: PositiveFloat = 0.001
    shift: PositiveFloat = 0.05


class LossWeights(Section):
    """Weights of energy, force and stress terms in the loss (paper eqn 7)."""

    energy: NonNegativeFloat = 1.0
    forces: NonNegativeFloat = 4.0
    stress: NonNegativeFloat = 0.2


class Training(Section):
    """How an ensemble is (re)trained."""

    epochs: PositiveInt = 500
    batch_size: PositiveInt = 4
    patience_epochs: PositiveInt | None = None  # early stopping on validation loss
    learning_rates: LearningRates = LearningRates()
    loss_weights: LossWeights = LossWeights()
    warm_start: bool = True
    # a warm start's learning rates rise linearly from 0 over this many epochs: Adam restarts with empty moments,
    # and its first steps at the full rate undo part of the previous training (0: no warm-up)
    warmup_epochs: NonNegativeFloat = 0.0
    seed: Seed = 0

    @model_serializer(mode="wrap")
    def _without_unused_warmup(self, handler):
        # absent when unused: the training stages of campaigns written before this key keep their identities
        data = handler(self)
        if not self.warmup_epochs:
            data.pop("warmup_epochs", None)
        return data


class Model(Section):
    """A Gaussian Moment Neural Network ensemble."""

    kind: Literal["gmnn"] = "gmnn"
    ensemble_size: PositiveInt = 2
    n_basis: PositiveInt = 7
    n_radial: PositiveInt = 5
    r_min_A: PositiveFloat = 0.7
    r_max_A: PositiveFloat = 5.5
    hidden_layers: Annotated[list[PositiveInt], Field(min_length=1)] = [512, 512]
    precision: Literal["mixed", "float32", "float64"] = "mixed"
    dispersion: Dispersion | None = None
    training: Training = Training()

    @model_validator(mode="after")
    def _radial_range(self) -> "Model":
        if self.r_min_A >= self.r_max_A:
            raise ValueError(f"r_min_A ({self.r_min_A}) must be smaller than r_max_A ({self.r_max_A})")
        return self
