"""Experimental reference tables: shipped for BMIM-BF4 (density, viscosity), or user CSV files.

A table is a CSV with '#' comment lines, a column `temperature_K` and one value column. The shipped ones
(src/ilflow/analysis/data, sources in their headers and in NOTICE) are used when the campaign's species are
BMIM+ and BF4-; other liquids need `analysis.experimental_*_csv`.
"""

import csv
from pathlib import Path

import numpy as np

from ilflow.analysis.trajectory import AnalysisError

DATA = Path(__file__).parent / "data"
BMIM_BF4 = {"CCCCn1cc[n+](C)c1", "F[B-](F)(F)F"}
SHIPPED = {"density": DATA / "bmim_bf4_density.csv", "viscosity": DATA / "bmim_bf4_viscosity.csv"}


def read_table(csv_path: str | Path, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, str]:
    """(temperatures K, values, column name) of a table, sorted by temperature; the first of `columns` found."""
    path = Path(csv_path)
    if not path.exists():
        raise AnalysisError(f"experimental table {path} does not exist")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and line[0] != "#"]
    rows = [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(lines)]
    names = list(rows[0]) if rows else []
    column = next((c for c in columns if c in names), None)
    if "temperature_K" not in names or column is None:
        raise AnalysisError(f"{path} needs columns temperature_K and one of {', '.join(columns)}; it has "
                            f"{', '.join(names) or 'none'}")
    T = np.array([float(r["temperature_K"]) for r in rows])
    values = np.array([float(r[column]) for r in rows])
    order = np.argsort(T)
    return T[order], values[order], column


def density_g_cm3(T_K: float, csv_path: str | Path, max_extrapolation_K: float = 30.0) -> float:
    """Experimental density at T_K from a table (density_g_cm3 or density_kg_m3): a straight-line fit in T,
    used up to `max_extrapolation_K` outside the table."""
    T, rho, column = read_table(csv_path, ("density_g_cm3", "density_kg_m3"))
    rho = rho / 1000.0 if column == "density_kg_m3" else rho
    if T_K < T[0] - max_extrapolation_K or T_K > T[-1] + max_extrapolation_K:
        raise AnalysisError(f"T = {T_K:g} K is too far outside the density table {csv_path} ({T[0]:g}-{T[-1]:g} K)")
    if len(T) == 1:
        return float(rho[0])
    slope, intercept = np.polyfit(T, rho, 1)
    return float(intercept + slope * T_K)


def is_bmim_bf4(smiles: list[str]) -> bool:
    """Whether the species are exactly BMIM+ and BF4- (canonical SMILES)."""
    from rdkit import Chem

    canonical = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in smiles if Chem.MolFromSmiles(s) is not None}
    return canonical == {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in BMIM_BF4}


def table_for(quantity: str, user_csv: str | None, smiles: list[str]) -> Path | None:
    """The table of `quantity` ('density', 'viscosity', 'diffusion'): the user's, else the shipped BMIM-BF4 one."""
    if user_csv:
        return Path(user_csv)
    if quantity in SHIPPED and is_bmim_bf4(smiles):
        return SHIPPED[quantity]
    return None
