"""The reference method that labels configurations (`reference`). Filled in by the labelling stage."""

from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from ilflow.config.base import PositiveFloat, PositiveInt, Section
from ilflow.config.dispersion import GFN1_CN_CUTOFF_A, GFN1_CUTOFF_A, D3, LabelDispersion, normalised_functional

SubtractD3 = D3  # ilflow's D3(BJ) removed from every label (dispersion-free labels for a model + D3 at run time)


def _subtracted(subtract: D3, method: str) -> LabelDispersion:
    return LabelDispersion("none", f"{method} minus ilflow's {subtract.describe()}",
                           removed=normalised_functional(subtract.functional))


class XtbReference(Section):
    """GFN-xTB through tblite: the embedded default, cheap and periodic with stress."""

    method: Literal["xtb"] = "xtb"
    hamiltonian: Literal["GFN2-xTB", "GFN1-xTB"] = "GFN2-xTB"
    accuracy: PositiveFloat = 1.0
    electronic_temperature_K: PositiveFloat = 300.0
    max_iterations: PositiveInt = 250
    # remove: the Hamiltonian without its dispersion term (tblite parameter set minus its `dispersion` table)
    dispersion: Literal["include", "remove"] = "include"
    subtract_d3: SubtractD3 | None = None

    @model_validator(mode="after")
    def _no_subtraction(self) -> "XtbReference":
        if self.subtract_d3 is not None:
            raise ValueError("reference.subtract_d3 does not apply to xTB: its dispersion is part of the "
                             "Hamiltonian; use reference.dispersion: remove for exact dispersion-free labels")
        return self

    def label_dispersion(self) -> LabelDispersion:
        gfn1 = self.hamiltonian == "GFN1-xTB"
        if self.dispersion == "remove":
            return LabelDispersion("none", f"{self.hamiltonian} without its "
                                   + ("D3(BJ)" if gfn1 else "self-consistent D4"), removed="gfn1" if gfn1 else "d4")
        if gfn1:
            own = D3(functional="gfn1", cutoff_A=GFN1_CUTOFF_A, cn_cutoff_A=GFN1_CN_CUTOFF_A)
            return LabelDispersion("d3", f"GFN1-xTB with its {own.describe()}", contained=own)
        return LabelDispersion("d4", "GFN2-xTB with its self-consistent D4")


class Cp2kReference(Section):
    """CP2K Quickstep; the `paper` preset holds the study's settings (B97-3c, TZVP-GTH, 800 Ry, D3(BJ))."""

    method: Literal["cp2k"]
    preset: Literal["paper"] = "paper"
    command: str = "cp2k.psmp"  # e.g. "mpirun -n 32 cp2k.psmp"
    cutoff_Ry: PositiveFloat = 800.0
    rel_cutoff_Ry: PositiveFloat = 60.0
    dispersion: Literal["d3bj", "none"] = "d3bj"
    d3_cutoff_A: PositiveFloat = 7.93766  # 15 bohr
    d3_three_body: bool = True
    overrides: dict[str, Any] = {}  # input sections by path, e.g. {"FORCE_EVAL/DFT/SCF/MAX_SCF": 50}
    timeout_s: PositiveFloat = 86_400.0  # per frame
    keep_workdirs: bool = False  # keep each task's directory (inputs, logs, wavefunction) after success
    subtract_d3: SubtractD3 | None = None  # or use dispersion: none for CP2K's own dispersion-free labels

    @model_validator(mode="after")
    def _subtraction_matches(self) -> "Cp2kReference":
        if self.subtract_d3 is not None and self.dispersion == "none":
            raise ValueError("reference.subtract_d3 with dispersion: none would remove dispersion the labels do not "
                             "contain; drop one of them")
        if self.subtract_d3 is not None and normalised_functional(self.subtract_d3.functional) != "b97-3c":
            raise ValueError(f"reference.subtract_d3.functional is {self.subtract_d3.functional!r}, but the paper "
                             "preset's D3 is B97-3c's; set subtract_d3.functional: b97-3c")
        return self

    def own_d3(self) -> D3:
        """CP2K's D3 in ilflow's terms (one cutoff for pairs, coordination numbers and triples)."""
        return D3(functional="b97-3c", cutoff_A=self.d3_cutoff_A, three_body=self.d3_three_body,
                  three_body_cutoff_A=self.d3_cutoff_A)

    def label_dispersion(self) -> LabelDispersion:
        if self.subtract_d3 is not None:
            return _subtracted(self.subtract_d3, "B97-3c (CP2K)")
        if self.dispersion == "none":
            return LabelDispersion("none", "B97-3c (CP2K) without D3", removed="b97-3c")
        return LabelDispersion("d3", f"B97-3c (CP2K) with {self.own_d3().describe()}", contained=self.own_d3())


class AseReference(Section):
    """Any ASE calculator given by import path and keyword arguments."""

    method: Literal["ase"]
    calculator: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]  # "module.path:ClassName"
    kwargs: dict[str, Any] = {}
    subtract_d3: SubtractD3 | None = None

    def label_dispersion(self) -> LabelDispersion:
        if self.subtract_d3 is not None:
            return _subtracted(self.subtract_d3, self.calculator)
        return LabelDispersion("unknown", f"{self.calculator} (its dispersion, if any, is not known to ilflow)")


Reference = Annotated[Union[XtbReference, Cp2kReference, AseReference], Field(discriminator="method")]
