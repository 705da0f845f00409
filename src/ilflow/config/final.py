"""Final models (`final_models`): named ensembles trained after the last learning iteration, from the same
labelled frames, on variants of their labels (the study's DFT / DFT + D3(8 Å) / DFT + D3(20 Å) models), and the
hybrid of a dispersion-free one with D3 at run time. Production runs name the final model they use."""

from pydantic import model_validator

from ilflow.config.base import SafeName, Section
from ilflow.config.dispersion import D3
from ilflow.config.model import Training

ModelName = SafeName  # also a directory name


class FinalModel(Section):
    """One final model: trained on the dispersion-free labels (+ `labels_d3`), or `of` another one's ensemble
    without training; `run_time_d3` is added to the energy in every simulation with it (the hybrid)."""

    name: ModelName
    labels_d3: D3 | None = None  # ilflow's D3 added to the dispersion-free labels before training
    of: ModelName | None = None  # no training: the ensemble of this other final model
    run_time_d3: D3 | None = None
    training: Training | None = None  # default: learning.iteration_training, else model.training

    @model_validator(mode="after")
    def _one_source(self) -> "FinalModel":
        if self.of is not None and (self.labels_d3 is not None or self.training is not None):
            raise ValueError(f"final model {self.name!r} reuses {self.of!r}'s ensemble (of:), so it has no labels_d3 "
                             "or training of its own; remove them or remove `of`")
        if self.labels_d3 is not None and self.run_time_d3 is not None:
            raise ValueError(f"final model {self.name!r} has dispersion in its labels (labels_d3) and adds D3 at run "
                             "time (run_time_d3): dispersion would count twice; keep one")
        return self

    @property
    def trained(self) -> bool:
        return self.of is None
