"""Production runs (`production`) and their analysis (`analysis`)."""

from typing import Annotated, Literal

from pydantic import Field, model_serializer, model_validator

from ilflow.config.base import Fraction, PositiveFloat, PositiveInt, SafeName, Section, Seed
from ilflow.config.dispersion import dispersion_every


class StatePoints(Section):
    """A grid of production runs: every temperature x every size x every seed."""

    name: SafeName  # the runs' directory under production/
    ensemble: Literal["nvt", "npt"] = "nvt"
    temperatures_K: Annotated[list[PositiveFloat], Field(min_length=1)]
    formula_units: Annotated[list[PositiveInt], Field(min_length=1)] = [10]  # e.g. ion pairs
    density: Literal["experimental", "given"] = "experimental"
    density_g_cm3: PositiveFloat | None = None  # when density is "given"
    pressure_bar: PositiveFloat = 1.01325
    # a final model's name; without final_models: ensemble (the last learning ensemble) or hybrid (it + model.dispersion)
    model: str = "hybrid"
    timestep_fs: PositiveFloat = 0.5
    # run-time dispersion (hybrid models) by multiple time stepping: D3 every k steps, k the largest whole number of
    # steps within this slow step that divides the frame interval (0.5 fs steps: every 8th; 240 atoms, 2 x 512
    # model: the hybrid at 1.03x the model's time instead of 2.0x); set it to timestep_fs for D3 at every step
    dispersion_step_fs: PositiveFloat = 4.0
    thermostat_chain: PositiveInt = 5
    thermostat_tau_fs: PositiveFloat = 50.0
    barostat_tau_fs: PositiveFloat = 500.0
    # preparation (paper): pack at a low density, relax, rescale the box linearly to the density over a short MD.
    # Relax: with classical_ps, CL&P (OpenMM) minimisation + NPT at 1 bar for classical_ps compresses the packed box
    # (robust against a young model's holes); without it (or for species without CL&P types) FIRE with the model.
    pack_density_g_cm3: PositiveFloat = 0.9
    classical_ps: PositiveFloat | None = 20.0
    relax_fmax_eV_A: PositiveFloat = 0.05
    relax_max_steps: PositiveInt = 2000
    rescale_ps: PositiveFloat = 5.0
    equilibration_ps: PositiveFloat = 5.0  # the first part of the production run, left out of the analysis
    production_ps: PositiveFloat = 20_000.0
    frame_interval_fs: PositiveFloat = 100.0
    seeds: Annotated[list[Seed], Field(min_length=1)] = [0]
    max_uncertainty_eV_A: PositiveFloat | None = None  # stop rule of eqn 8 (off: production records it only)
    # the pressure tensor every this many fs (a divisor of frame_interval_fs) for the shear viscosity (Green-Kubo,
    # Einstein-Helfand): its autocorrelation decays within 1-2 ps in ionic liquids, so a few fs resolve it
    stress_interval_fs: PositiveFloat | None = None

    @property
    def stress_steps(self) -> int | None:
        """MD steps between pressure-tensor samples (None: not written)."""
        return None if self.stress_interval_fs is None else max(1, round(self.stress_interval_fs / self.timestep_fs))

    @property
    def frame_steps(self) -> int:
        """MD steps between frames."""
        return max(1, round(self.frame_interval_fs / self.timestep_fs))

    @property
    def dispersion_every(self) -> int:
        """k: run-time dispersion every k steps (`config.dispersion.dispersion_every`)."""
        return dispersion_every(self.dispersion_step_fs, self.timestep_fs, self.frame_steps)

    @model_validator(mode="after")
    def _density(self) -> "StatePoints":
        if self.density == "given" and self.density_g_cm3 is None:
            raise ValueError("density 'given' needs density_g_cm3")
        if self.stress_steps and self.frame_steps % self.stress_steps:
            raise ValueError(f"stress_interval_fs ({self.stress_interval_fs}) must divide frame_interval_fs "
                             f"({self.frame_interval_fs}) in whole time steps ({self.timestep_fs} fs)")
        return self

    @model_serializer(mode="wrap")
    def _without_unused_stress(self, handler):
        # absent when unused: production runs of campaigns written before this key keep their identities
        data = handler(self)
        if self.stress_interval_fs is None:
            data.pop("stress_interval_fs", None)
        return data


class Production(Section):
    """All production state points."""

    runs: list[StatePoints] = []


class Analysis(Section):
    """What is computed from the production trajectories."""

    rdf_bins: PositiveInt = 1000
    rdf_range_A: PositiveFloat | None = None  # default: half the smallest box width
    msd_selections: list[str] = ["B", "H", "molecules"]
    dihedral_smarts: list[str] = ["[#7]-[CH2]-[CH2]-[CH2]", "[CH2]-[CH2]-[CH2]-[CH3]"]
    density_blocks: PositiveInt | None = None  # default: from the statistical inefficiency
    experimental_density_csv: str | None = None
    experimental_viscosity_csv: str | None = None
    experimental_conductivity_csv: str | None = None
    experimental_diffusion_csv: str | None = None
    # a run is flagged as extrapolating when more of its analysed frames than this have a force uncertainty above
    # the learning's threshold; 1% lets rare excursions pass (10 of 1000 frames), not a run that spends a
    # noticeable part of its time where the model did not learn
    max_uncertain_fraction: Fraction = 0.01
    seed: Seed = 0
    # the report's 3D view (the build box and the longest production run, thinned) keeps report.html below this
    viewer_max_MB: PositiveFloat = 20.0
