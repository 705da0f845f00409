"""CP2K input as nested sections: the study's `paper` preset, overrides by path, and rendering.

A section is a dict: keys are keywords (scalar values), subsections (dict) or repeated subsections
(list of dicts); the key "_" holds a section parameter (as in `&KIND H`). Spellings follow CP2K 2023.1
as packaged by Debian (B97-3c is `&BECKE97 / PARAMETRIZATION B97-3C / SCALE_X 1.0`).
"""

import copy
from typing import Any

import numpy as np
from ase import Atoms

from ilflow.config.reference import Cp2kReference

# basis sets and pseudopotentials of the study, by element (TZVP-GTH with GTH-PBE, valence charges q)
VALENCE = {"H": 1, "He": 2, "Li": 3, "Be": 4, "B": 3, "C": 4, "N": 5, "O": 6, "F": 7, "Ne": 8, "Na": 9,
           "Mg": 10, "Al": 3, "Si": 4, "P": 5, "S": 6, "Cl": 7, "Ar": 8}

Section = dict[str, Any]


def paper_preset(config: Cp2kReference) -> Section:
    """FORCE_EVAL and GLOBAL of the study (shared/reference/bmim_bf4_workflow.md), before the system is added."""
    xc: Section = {"XC_FUNCTIONAL": {"BECKE97": {"PARAMETRIZATION": "B97-3C", "SCALE_X": 1.0}}}
    if config.dispersion == "d3bj":
        xc["VDW_POTENTIAL"] = {
            "POTENTIAL_TYPE": "PAIR_POTENTIAL",
            "PAIR_POTENTIAL": {
                "TYPE": "DFTD3(BJ)",
                "PARAMETER_FILE_NAME": "dftd3.dat",
                "REFERENCE_FUNCTIONAL": "B97-3c",
                "R_CUTOFF": config.d3_cutoff_A,  # Å, CP2K's default length unit
                "CALCULATE_C9_TERM": config.d3_three_body,
                "SHORT_RANGE_CORRECTION": True,
            },
        }
    return {
        "GLOBAL": {"PROJECT": "ilflow", "RUN_TYPE": "ENERGY_FORCE", "PRINT_LEVEL": "LOW"},
        "FORCE_EVAL": {
            "METHOD": "QUICKSTEP",
            "STRESS_TENSOR": "ANALYTICAL",
            "DFT": {
                "BASIS_SET_FILE_NAME": "GTH_BASIS_SETS",
                "POTENTIAL_FILE_NAME": "GTH_POTENTIALS",
                "MGRID": {"CUTOFF": config.cutoff_Ry, "REL_CUTOFF": config.rel_cutoff_Ry, "NGRIDS": 5},
                "SCF": {
                    "SCF_GUESS": "ATOMIC",
                    "EPS_SCF": 1.0e-6,
                    "MAX_SCF": 100,
                    "OT": {"MINIMIZER": "DIIS", "PRECONDITIONER": "FULL_SINGLE_INVERSE"},
                    "OUTER_SCF": {"MAX_SCF": 100, "EPS_SCF": 1.0e-6},
                },
                "XC": xc,
            },
            "PRINT": {"FORCES": {"_": "ON"}, "STRESS_TENSOR": {"_": "ON"}},
        },
    }


def apply_overrides(sections: Section, overrides: dict[str, Any]) -> Section:
    """Set keywords by path ("FORCE_EVAL/DFT/SCF/MAX_SCF": 50); a value of None removes the keyword or section."""
    out = copy.deepcopy(sections)
    for path, value in overrides.items():
        *parents, key = [p.upper() for p in path.strip("/").split("/")]
        node = out
        for name in parents:
            node = node.setdefault(name, {})
        if value is None:
            node.pop(key, None)
        else:
            node[key] = value
    return out


def system_sections(atoms: Atoms, charge: int, multiplicity: int) -> tuple[Section, Section]:
    """DFT charge/spin keywords and the SUBSYS (cell, coordinates in Å, kinds) of a frame."""
    symbols = sorted(set(atoms.get_chemical_symbols()))
    missing = [s for s in symbols if s not in VALENCE]
    if missing:
        raise ValueError(f"no TZVP-GTH/GTH-PBE kind known for {missing} (the preset covers H to Ar); use the xtb "
                         "reference for these elements")
    cell = atoms.cell.array
    subsys = {
        "CELL": {"A": _vec(cell[0]), "B": _vec(cell[1]), "C": _vec(cell[2]),
                 "PERIODIC": "XYZ" if atoms.pbc.all() else "NONE"},
        "COORD": {"_lines": [f"{s} {x:.10f} {y:.10f} {z:.10f}" for s, (x, y, z)
                             in zip(atoms.get_chemical_symbols(), atoms.positions)]},
        "KIND": [{"_": s, "BASIS_SET": f"TZVP-GTH-q{VALENCE[s]}", "POTENTIAL": f"GTH-PBE-q{VALENCE[s]}"}
                 for s in symbols],
    }
    dft = {"CHARGE": charge, "MULTIPLICITY": multiplicity}
    if multiplicity != 1:
        dft["UKS"] = True
    return dft, subsys


def _vec(v: np.ndarray) -> str:
    return " ".join(f"{x:.10f}" for x in v)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "T" if v else "F"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def render(sections: Section, indent: int = 0) -> str:
    """CP2K input text of nested sections."""
    pad = "  " * indent
    lines: list[str] = []
    for key, value in sections.items():
        if key == "_":
            continue
        if key == "_lines":
            lines += [pad + line for line in value]
        elif isinstance(value, dict):
            lines += _section(key, value, indent)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines += _section(key, item, indent)
        else:
            lines.append(f"{pad}{key} {_value(value)}")
    return "\n".join(lines) + ("\n" if indent == 0 else "")


def _section(name: str, body: Section, indent: int) -> list[str]:
    pad = "  " * indent
    head = f"{pad}&{name}" + (f" {body['_']}" if "_" in body else "")
    inner = render(body, indent + 1)
    return [head] + ([inner.rstrip("\n")] if inner.strip() else []) + [f"{pad}&END {name}"]


def cp2k_input(config: Cp2kReference, atoms: Atoms, charge: int, multiplicity: int, restart_file: str | None) -> str:
    """The complete input for one frame; SCF_GUESS RESTART from `restart_file` when given."""
    sections = paper_preset(config)
    dft, subsys = system_sections(atoms, charge, multiplicity)
    sections["FORCE_EVAL"]["DFT"].update(dft)
    sections["FORCE_EVAL"]["SUBSYS"] = subsys
    if restart_file:
        sections["FORCE_EVAL"]["DFT"]["WFN_RESTART_FILE_NAME"] = restart_file
        sections["FORCE_EVAL"]["DFT"]["SCF"]["SCF_GUESS"] = "RESTART"
    return render(apply_overrides(sections, config.overrides))
