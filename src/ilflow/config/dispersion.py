"""Dispersion in labels and models: ilflow's D3(BJ) settings, what a reference's labels contain, and which
run-time D3 restores what was removed from them (the hybrid of the study: E = E_model + E_D3)."""

from dataclasses import dataclass
from typing import Literal

from pydantic import field_validator

from ilflow.config.base import PositiveFloat, Section

BOHR_A = 0.529177210903
# GFN1-xTB's own D3(BJ) (tblite src/tblite/xtb/gfn1.f90, src/tblite/disp/d3.f90): no three-body term, two-body
# sum to 50 bohr, coordination numbers to 25 bohr
GFN1_CUTOFF_A = 50 * BOHR_A
GFN1_CN_CUTOFF_A = 25 * BOHR_A
# D3(BJ) damping parameters (s6, s8, a1, a2 / bohr) by functional, from simple-dftd3's parameter table (Grimme's
# published values)
FUNCTIONALS = {
    "b97-3c": (1.0, 1.50, 0.37, 4.10),
    "pbe": (1.0, 0.7875, 0.4289, 4.4407),
    "pbe0": (1.0, 1.2177, 0.4145, 4.8593),
    "b3lyp": (1.0, 1.9889, 0.3981, 4.4211),
    "tpss": (1.0, 1.9435, 0.4535, 4.4752),
    "revpbe": (1.0, 2.3550, 0.5238, 3.5016),
    "r2scan": (1.0, 0.78981345, 0.49484001, 5.73083694),
    # GFN1-xTB's dispersion (Grimme et al., J. Chem. Theory Comput. 13, 1989 (2017); tblite's gfn1 parameters)
    "gfn1": (1.0, 2.4, 0.63, 5.0),
}


class D3(Section):
    """ilflow's D3(BJ): parameters by functional name (`gfn1` is GFN1-xTB's own), cutoffs in Å."""

    functional: str = "b97-3c"
    cutoff_A: PositiveFloat = 20.0  # two-body
    cn_cutoff_A: PositiveFloat | None = None  # coordination numbers; default: cutoff_A
    three_body: bool = False  # the study's run-time D3 (torch-dftd, abc=False) left it out
    three_body_cutoff_A: PositiveFloat = 8.0

    @field_validator("functional")
    @classmethod
    def _known(cls, name: str) -> str:
        if normalised_functional(name) not in FUNCTIONALS:
            raise ValueError(f"no D3(BJ) parameters for {name!r}; known: {', '.join(FUNCTIONALS)}")
        return name

    def settings(self) -> dict:
        """Keyword arguments of `ilflow.potentials.d3.d3_config` (and `from_model(model, dispersion=...)`)."""
        return {"functional": self.functional, "cutoff_A": self.cutoff_A,
                "cn_cutoff_A": self.cn_cutoff_A or self.cutoff_A, "three_body": self.three_body,
                "three_body_cutoff_A": self.three_body_cutoff_A}

    def describe(self) -> str:
        cn = f", CN {self.cn_cutoff_A:.2f} Å" if self.cn_cutoff_A and self.cn_cutoff_A != self.cutoff_A else ""
        return (f"D3(BJ, {self.functional}, {self.cutoff_A:.2f} Å{cn}"
                + (", three-body" if self.three_body else "") + ")")


def dispersion_every(dispersion_step_fs: float, timestep_fs: float, frame_steps: int) -> int:
    """k of multiple time stepping: run-time dispersion every k MD steps, the largest k with k x timestep_fs within
    dispersion_step_fs that divides frame_steps (frames fall where every term is current); at least 1."""
    most = max(1, int(dispersion_step_fs / timestep_fs + 1e-9))
    return max(k for k in range(1, most + 1) if frame_steps % k == 0)


def normalised_functional(name: str) -> str:
    key = name.lower().replace("_", "-")
    return "b97-3c" if key == "b973c" else key


@dataclass(frozen=True)
class LabelDispersion:
    """What dispersion a reference's stored labels hold.

    kind: "none" (dispersion-free), "d3" (a D3 that ilflow's D3 reproduces: `contained`), "d4" (GFN2-xTB's
    self-consistent D4, which no D3 reproduces) or "unknown" (an ASE calculator: the user's responsibility).
    removed: for dispersion-free labels, the dispersion that the method would have had and that a run-time
    D3 must restore: a D3 functional name, "d4", or None when nothing is known to be missing."""

    kind: Literal["none", "d3", "d4", "unknown"]
    description: str
    contained: D3 | None = None
    removed: str | None = None

    def dispersion_free(self) -> "LabelDispersion":
        """These labels after ilflow's D3 removes the D3 they contain (ValueError for D4, which it cannot remove)."""
        if self.kind == "d4":
            raise ValueError(f"the labels are {self.description}, which ilflow cannot remove; set "
                             "reference.dispersion: remove (or use GFN1-xTB, whose D3 ilflow's D3 reproduces)")
        if self.kind != "d3":
            return self
        return LabelDispersion("none", f"{self.description} minus ilflow's {self.contained.describe()}",
                               removed=normalised_functional(self.contained.functional))


def check_hybrid(labels: LabelDispersion, run_time: D3, what: str) -> None:
    """ValueError unless `run_time` D3 added to a model of dispersion-free `labels` restores what was removed."""
    if labels.kind in ("d3", "d4"):
        raise ValueError(f"{what} adds run-time {run_time.describe()} to a model trained on labels that already "
                         f"contain dispersion ({labels.description}): dispersion would count twice. Train that "
                         "model on dispersion-free labels (reference.dispersion: remove for xTB, dispersion: none "
                         "or subtract_d3 for CP2K), or drop the run-time D3")
    if labels.removed == "d4":
        raise ValueError(f"{what} adds run-time {run_time.describe()} to a model trained on {labels.description}: "
                         "the D3 added back is not the D4 taken out, so this is not the study's hybrid. Use "
                         "hamiltonian: GFN1-xTB (its dispersion is a D3(BJ) that run-time D3 with functional: gfn1 "
                         "restores), or a model without run-time dispersion")
    if labels.removed and normalised_functional(run_time.functional) != labels.removed:
        raise ValueError(f"{what} adds run-time D3 with functional {run_time.functional!r}, but the labels lack "
                         f"{labels.removed!r}'s D3 ({labels.description}); set the run-time functional to "
                         f"{labels.removed!r}")
