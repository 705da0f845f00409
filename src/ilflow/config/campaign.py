"""The whole campaign: one file describes a study from SMILES to report."""

from typing import Annotated

from pydantic import Field, model_validator

from ilflow.config.base import Section
from ilflow.config.execution import Execution
from ilflow.config.learning import Learning
from ilflow.config.model import Model
from ilflow.config.production import Analysis, Production
from ilflow.config.reference import Reference, XtbReference
from ilflow.config.system import Box, Species


class Campaign(Section):
    """A validated `campaign.yaml`."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$")] = "campaign"
    species: Annotated[list[Species], Field(min_length=1)]
    box: Box
    reference: Reference = XtbReference()
    model: Model = Model()
    learning: Learning = Learning()
    production: Production = Production()
    analysis: Analysis = Analysis()
    execution: Execution = Execution()

    @model_validator(mode="after")
    def _unique_species(self) -> "Campaign":
        names = [s.name for s in self.species]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"species names must be unique; repeated: {', '.join(repeated)}")
        return self

    @model_validator(mode="after")
    def _hybrid_needs_dispersion(self) -> "Campaign":
        hybrid = [run.name for run in self.production.runs if run.model == "hybrid"]
        if hybrid and self.model.dispersion is None:
            raise ValueError(f"production runs {', '.join(hybrid)} use model: hybrid (the model + D3), but the model "
                             "section has no dispersion; add model.dispersion (e.g. {functional: b97-3c, cutoff_A: 20}) "
                             "or set model: ensemble on those runs")
        return self
