"""The production runs of a campaign: every state-point group x temperature x size x seed."""

from dataclasses import dataclass
from math import gcd
from functools import reduce

from ilflow.analysis.experiment import density_g_cm3, shipped_liquids, table_for
from ilflow.config.production import StatePoints
from ilflow.config.system import Species
from ilflow.errors import ConfigError


@dataclass(frozen=True)
class ProductionRun:
    """One production simulation; `density_g_cm3` is the NVT density, or the starting density of an NPT run."""

    group: str
    spec: StatePoints
    temperature_K: float
    formula_units: int
    seed: int
    density_g_cm3: float

    @property
    def key(self) -> str:
        """Folder name, e.g. `4fu-353K-seed0`."""
        return f"{self.formula_units}fu-{self.temperature_K:g}K-seed{self.seed}"


def scaled_species(species: list[Species], formula_units: int) -> list[Species]:
    """The campaign's species with counts for `formula_units` formula units (counts / their gcd per unit)."""
    unit = reduce(gcd, [s.count for s in species])
    return [s.model_copy(update={"count": s.count // unit * formula_units}) for s in species]


def plan_runs(groups: list[StatePoints], species: list[Species], density_csv: str | None = None) -> list[ProductionRun]:
    """All runs; densities 'experimental' come from `density_csv` or the liquid's shipped table."""
    runs = []
    table = table_for("density", density_csv, species)
    for spec in groups:
        for T in spec.temperatures_K:
            if spec.density == "given":
                rho = spec.density_g_cm3
            elif table is None:
                names = "-".join(s.name for s in species)
                raise ConfigError(f"production run {spec.name!r} asks for the experimental density, but ilflow ships "
                                  f"no density table for {names} (only for {', '.join(shipped_liquids('density'))}):"
                                  " set analysis.experimental_density_csv (columns temperature_K, density_g_cm3; "
                                  "'# species:' and '# source:' comment lines) or density: given with density_g_cm3")
            else:
                rho = density_g_cm3(T, table)
            for n in spec.formula_units:
                for seed in spec.seeds:
                    runs.append(ProductionRun(spec.name, spec, float(T), int(n), int(seed), float(rho)))
    keys = [(r.group, r.key) for r in runs]
    if len(set(keys)) != len(keys):
        raise ConfigError("production: two runs share a name, temperature, size and seed; give the groups distinct names")
    return runs
