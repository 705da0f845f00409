"""Experimental reference tables: shipped ones (src/ilflow/analysis/data, sources in their headers and in NOTICE),
found by the liquid's species, or user CSV files.

A table is a CSV with '#' comment lines, a column `temperature_K` and one value column whose name carries the unit
(density_g_cm3 or density_kg_m3; viscosity_mPa_s or viscosity_Pa_s; conductivity_S_m or conductivity_mS_cm). A comment line `# species: SMILES + SMILES`
names the liquid (counts in front for other ratios: `# species: 2 CCCCn1cc[n+](C)c1 + 2 F[B-](F)(F)F + 1 O`);
`# source:` says where the numbers come from. Liquids compare by canonical SMILES and reduced ratio, so any
spelling of a SMILES and any box size match. A user table (`analysis.experimental_*_csv`) whose species line names
another liquid is refused.
"""

import csv
from functools import reduce
from math import gcd
from pathlib import Path

import numpy as np

from ilflow.analysis.trajectory import AnalysisError

DATA = Path(__file__).parent / "data"
VALUE_COLUMNS = {"density": ("density_g_cm3", "density_kg_m3"), "viscosity": ("viscosity_mPa_s", "viscosity_Pa_s"),
                 "conductivity": ("conductivity_S_m", "conductivity_mS_cm")}
Liquid = tuple[tuple[str, int], ...]  # (canonical SMILES, count) sorted, counts divided by their gcd


def liquid(species) -> Liquid:
    """The key of a liquid from (SMILES, count) pairs: canonical SMILES, counts reduced by their gcd."""
    from rdkit import Chem

    counts: dict[str, int] = {}
    for smiles, count in species:
        mol = Chem.MolFromSmiles(smiles)
        key = Chem.MolToSmiles(mol) if mol is not None else smiles
        counts[key] = counts.get(key, 0) + int(count)
    unit = reduce(gcd, counts.values())
    return tuple(sorted((k, n // unit) for k, n in counts.items()))


def describe(key: Liquid) -> str:
    """A liquid key as a species line: '2 A + 2 B + 1 C', counts left out when all are 1."""
    return " + ".join(smiles if all(n == 1 for _, n in key) else f"{n} {smiles}" for smiles, n in key)


def table_liquid(path: Path) -> Liquid | None:
    """The liquid a table's `# species:` line names, or None without one."""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and line[1:].strip().lower().startswith("species:"):
            # entries are separated by a '+' between spaces: SMILES hold '+' (charges) but never a space
            entries = [e.split() for e in " ".join(line.split(":", 1)[1].split()).split(" + ")]
            try:
                return liquid((e[-1], int(e[0]) if len(e) == 2 else 1) for e in entries if e)
            except (ValueError, IndexError):
                raise AnalysisError(f"{path}: cannot read the species line {line.strip()!r}; write it as "
                                    "'# species: SMILES + SMILES' with optional counts ('2 SMILES + 1 O')") from None
    return None


def shipped_tables(quantity: str) -> list[Path]:
    """The shipped tables of a quantity ('density', 'viscosity'): files data/*_<quantity>.csv."""
    return sorted(DATA.glob(f"*_{quantity}.csv"))


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
    try:
        T = np.array([float(r["temperature_K"]) for r in rows])
        values = np.array([float(r[column]) for r in rows])
    except (TypeError, ValueError):
        raise AnalysisError(f"{path}: every row needs a number in temperature_K and in {column}") from None
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


def conductivity_S_m(T_K: float, csv_path: str | Path, max_extrapolation_K: float = 10.0) -> float:
    """Experimental ionic conductivity (S/m) at T_K from a table (conductivity_S_m or conductivity_mS_cm, 1 mS/cm
    = 0.1 S/m): ln(kappa) fitted as a quadratic in 1/T (4 or more temperatures; 2-3: linear, Arrhenius), which
    averages the scatter between sources; up to `max_extrapolation_K` outside the table."""
    T, kappa, column = read_table(csv_path, VALUE_COLUMNS["conductivity"])
    kappa = kappa * 0.1 if column == "conductivity_mS_cm" else kappa
    if T_K < T[0] - max_extrapolation_K or T_K > T[-1] + max_extrapolation_K:
        raise AnalysisError(f"T = {T_K:g} K is too far outside the conductivity table {csv_path} "
                            f"({T[0]:g}-{T[-1]:g} K)")
    distinct = len(np.unique(T))
    if distinct == 1:
        return float(np.exp(np.mean(np.log(kappa))))
    coefficients = np.polyfit(1.0 / T, np.log(kappa), 2 if distinct >= 4 else 1)
    return float(np.exp(np.polyval(coefficients, 1.0 / T_K)))


def table_for(quantity: str, user_csv: str | None, species) -> Path | None:
    """The table of `quantity` for a liquid (`species`: objects with `smiles` and `count`): the user's, checked
    against the liquid when it names one, else the shipped table of that liquid, else None."""
    key = liquid((s.smiles, s.count) for s in species)
    if user_csv:
        path = Path(user_csv)
        if not path.exists():
            raise AnalysisError(f"analysis.experimental_{quantity}_csv: {path} does not exist")
        named = table_liquid(path)
        if named is not None and named != key:
            raise AnalysisError(f"analysis.experimental_{quantity}_csv: {path} is for {describe(named)}, but the "
                                f"campaign's liquid is {describe(key)}; give the table of this liquid (or remove its "
                                "'# species:' line if it is meant for it)")
        if quantity in VALUE_COLUMNS:
            read_table(path, VALUE_COLUMNS[quantity])  # its columns and numbers, checked now rather than hours later
        return path
    return next((path for path in shipped_tables(quantity) if table_liquid(path) == key), None)


def shipped_liquids(quantity: str) -> list[str]:
    """The liquids with a shipped table of `quantity`, by the names in the tables' first line (e.g. [BMIM][BF4])."""
    names = []
    for path in shipped_tables(quantity):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        names.append(first.split(" of ", 1)[1].split(" at ")[0] if " of " in first else path.stem)
    return names
