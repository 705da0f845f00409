"""The whole campaign: one file describes a study from SMILES to report."""

from typing import Annotated

from pydantic import Field, model_validator

from ilflow.config.base import SafeName, Section
from ilflow.config.dispersion import check_hybrid
from ilflow.config.execution import Execution
from ilflow.config.final import FinalModel
from ilflow.config.learning import Learning
from ilflow.config.model import Model
from ilflow.config.production import Analysis, Production
from ilflow.config.reference import Reference, XtbReference
from ilflow.config.system import Box, Species


class Campaign(Section):
    """A validated `campaign.yaml`."""

    name: SafeName = "campaign"  # also the default project directory
    species: Annotated[list[Species], Field(min_length=1)]
    box: Box
    reference: Reference = XtbReference()
    model: Model = Model()
    learning: Learning = Learning()
    final_models: list[FinalModel] = []
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
    def _final_models(self) -> "Campaign":
        names = [m.name for m in self.final_models]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"final model names must be unique; repeated: {', '.join(repeated)}")
        trained = {m.name for m in self.final_models if m.trained}
        for m in self.final_models:
            if m.of is not None and m.of not in trained:
                raise ValueError(f"final model {m.name!r}: of: {m.of!r} names no trained final model; "
                                 f"trained ones: {', '.join(sorted(trained)) or 'none'}")
        if not self.final_models:
            return self
        try:  # the final models train on the dispersion-free labels, whatever the stored ones contain
            free = self.reference.label_dispersion().dispersion_free()
        except ValueError as exc:
            raise ValueError(f"final_models train on dispersion-free labels, but {exc}") from None
        for m in self.final_models:
            base = self.final_model(m.of) if m.of else m
            if m.run_time_d3 is not None and base.labels_d3 is not None:
                raise ValueError(f"final model {m.name!r} adds run-time D3 to {base.name!r}, whose labels contain "
                                 f"{base.labels_d3.describe()}: dispersion would count twice")
            if m.run_time_d3 is not None:
                check_hybrid(free, m.run_time_d3, f"final model {m.name!r}")
        return self

    @model_validator(mode="after")
    def _sampler_dispersion(self) -> "Campaign":
        for k, step in enumerate(self.learning.iterations, start=1):
            for sampler in step.samplers:
                if getattr(sampler, "run_time_d3", None) is not None:
                    check_hybrid(self.reference.label_dispersion(), sampler.run_time_d3,
                                 f"learning iteration {step.name or k!r} (an md sampler with run_time_d3)")
        return self

    @model_validator(mode="after")
    def _production_models(self) -> "Campaign":
        names = [m.name for m in self.final_models]
        for run in self.production.runs:
            if names and run.model not in names:
                raise ValueError(f"production run {run.name!r} uses model {run.model!r}, which is not one of the "
                                 f"final_models ({', '.join(names)}); name one of them")
            if names:
                continue
            if run.model not in ("ensemble", "hybrid"):
                raise ValueError(f"production run {run.name!r} uses model {run.model!r}; without final_models the "
                                 "choices are ensemble (the last learning ensemble) and hybrid (it + model.dispersion)")
            if run.model == "hybrid" and self.model.dispersion is None:
                raise ValueError(f"production run {run.name!r} uses model: hybrid (the model + D3), but the model "
                                 "section has no dispersion; add model.dispersion (e.g. {functional: b97-3c, "
                                 "cutoff_A: 20}) or set model: ensemble on that run")
            if run.model == "hybrid":
                check_hybrid(self.reference.label_dispersion(), self.model.dispersion,
                             f"production run {run.name!r} (model: hybrid)")
        return self

    def final_model(self, name: str) -> FinalModel:
        return next(m for m in self.final_models if m.name == name)
