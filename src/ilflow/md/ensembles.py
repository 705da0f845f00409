"""One factory from an ensemble name to an integrator, for the CLI (`ilflow md --ensemble`), the learning loop's
MD sampler (`ensemble:` in a campaign's sampler) and the production runs (`production.ensemble`).

Every integrator is a frozen dataclass with a `timestep_fs` field and three methods (the runner's protocol):

- `init(system, masses, key, temperature_K, force, aux) -> (MDState, aux)`: the starting state (Maxwell-Boltzmann
  momenta at `temperature_K`, the potential evaluated once, the integrator's own variables in `state.thermostat`:
  Nose-Hoover chains, barostat momentum, FIRE's adaptive step);
- `step(state, control, force, aux) -> (MDState, aux)`: one time step toward the targets in `control`
  (temperature, pressure), with `force(system, aux) -> (Evaluation, aux)` and `aux` (neighbour lists) threaded
  through untouched;
- `conserved(state, control) -> energy`: the quantity the integrator conserves (eV), written as the observable
  `conserved_energy` and its drift in the run's summary (Langevin: the total energy; FIRE: the energy, or
  enthalpy, being minimised).

`timestep_fs` is the MD time step (the runner also takes frame times and ns/day from it); FIRE (`relax`) keeps its
own starting step (1 fs), which it adapts as it goes, whatever the MD time step.
"""

from ilflow.errors import ConfigError
from ilflow.md.fire import FIRE
from ilflow.md.integrators import NVE, Langevin, NoseHoover
from ilflow.md.npt import MTKNPT

_NOSE_HOOVER = (NoseHoover, {"thermostat_tau_fs": "tau_fs", "chain": "chain_length"})
_LANGEVIN = (Langevin, {"friction_per_ps": "friction_per_ps"})

# name -> (integrator class, {make_integrator keyword: the class's field}); aliases share an entry
ENSEMBLES = {
    "nve": (NVE, {}),
    "nvt": _NOSE_HOOVER,
    "nvt_nose_hoover": _NOSE_HOOVER,
    "langevin": _LANGEVIN,
    "nvt_langevin": _LANGEVIN,
    "npt": (MTKNPT, {"thermostat_tau_fs": "tau_fs", "barostat_tau_fs": "tau_barostat_fs", "chain": "chain_length"}),
    "relax": (FIRE, {"relax_cell": "relax_cell"}),
}


def make_integrator(ensemble: str, timestep_fs: float, *, thermostat_tau_fs: float | None = None,
                    barostat_tau_fs: float | None = None, chain: int | None = None,
                    friction_per_ps: float | None = None, relax_cell: bool = False):
    """The integrator for an ensemble name:

    - `nve`: velocity Verlet (`NVE`);
    - `nvt` = `nvt_nose_hoover`: Nose-Hoover chain (`NoseHoover`: `thermostat_tau_fs`, `chain` links);
    - `langevin` = `nvt_langevin`: BAOAB Langevin (`Langevin`: `friction_per_ps`);
    - `npt`: MTK barostat, isotropic (`MTKNPT`: `thermostat_tau_fs`, `barostat_tau_fs`, `chain` links);
    - `relax`: FIRE minimisation (`FIRE`: `relax_cell` also relaxes the volume; `timestep_fs` is not used).

    A parameter left as None takes the integrator's own default; one the ensemble does not use is ignored.
    Every integrator follows the protocol in this module's docstring (init / step / conserved, `timestep_fs`).
    An unknown name raises ConfigError naming it and the choices.
    """
    try:
        cls, fields = ENSEMBLES[ensemble]
    except (KeyError, TypeError):
        raise ConfigError(f"ensemble {ensemble!r}: choose one of {', '.join(ENSEMBLES)}") from None
    given = {"thermostat_tau_fs": thermostat_tau_fs, "barostat_tau_fs": barostat_tau_fs, "chain": chain,
             "friction_per_ps": friction_per_ps, "relax_cell": relax_cell}
    chosen = {field: given[name] for name, field in fields.items() if given[name] is not None}
    return cls(**chosen) if cls is FIRE else cls(timestep_fs=timestep_fs, **chosen)
