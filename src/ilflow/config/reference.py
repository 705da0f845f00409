"""The reference method that labels configurations (`reference`). Filled in by the labelling stage."""

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from ilflow.config.base import PositiveFloat, PositiveInt, Section


class SubtractD3(Section):
    """Remove ilflow's D3(BJ) from every label (dispersion-free labels for a model + D3 at run time)."""

    functional: str = "b97-3c"
    three_body: bool = False
    cutoff_A: PositiveFloat = 20.0
    cn_cutoff_A: PositiveFloat = 20.0
    three_body_cutoff_A: PositiveFloat = 8.0


class XtbReference(Section):
    """GFN-xTB through tblite: the embedded default, cheap and periodic with stress."""

    method: Literal["xtb"] = "xtb"
    hamiltonian: Literal["GFN2-xTB", "GFN1-xTB"] = "GFN2-xTB"
    accuracy: PositiveFloat = 1.0
    electronic_temperature_K: PositiveFloat = 300.0
    max_iterations: PositiveInt = 250
    subtract_d3: SubtractD3 | None = None


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


class AseReference(Section):
    """Any ASE calculator given by import path and keyword arguments."""

    method: Literal["ase"]
    calculator: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]  # "module.path:ClassName"
    kwargs: dict[str, Any] = {}
    subtract_d3: SubtractD3 | None = None


Reference = Annotated[Union[XtbReference, Cp2kReference, AseReference], Field(discriminator="method")]
