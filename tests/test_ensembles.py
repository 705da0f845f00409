"""`make_integrator`: one table from the ensemble names of the CLI, the learning loop and production to integrators."""

import pytest

from ilflow.errors import ConfigError
from ilflow.md import ENSEMBLES, FIRE, MTKNPT, NVE, Langevin, NoseHoover, make_integrator

PARAMETERS = {"thermostat_tau_fs": 50.0, "barostat_tau_fs": 500.0, "chain": 5, "friction_per_ps": 2.5,
              "relax_cell": True}


@pytest.mark.parametrize("name,expected", [
    ("nve", NVE(0.25)),
    ("nvt", NoseHoover(0.25, tau_fs=50.0, chain_length=5)),
    ("nvt_nose_hoover", NoseHoover(0.25, tau_fs=50.0, chain_length=5)),
    ("langevin", Langevin(0.25, friction_per_ps=2.5)),
    ("nvt_langevin", Langevin(0.25, friction_per_ps=2.5)),
    ("npt", MTKNPT(0.25, tau_fs=50.0, tau_barostat_fs=500.0, chain_length=5)),
    ("relax", FIRE(relax_cell=True)),  # FIRE starts at its own step (1 fs) and adapts it
])
def test_each_name_builds_its_integrator_with_the_given_parameters(name, expected):
    integrator = make_integrator(name, 0.25, **PARAMETERS)
    assert type(integrator) is type(expected) and integrator == expected
    assert integrator.timestep_fs == (FIRE().timestep_fs if name == "relax" else 0.25)
    for method in ("init", "step", "conserved"):
        assert callable(getattr(integrator, method))


def test_attributes_reach_the_integrators():
    npt = make_integrator("npt", 1.0, thermostat_tau_fs=70.0, barostat_tau_fs=800.0, chain=4)
    assert (npt.timestep_fs, npt.tau_fs, npt.tau_barostat_fs, npt.chain_length) == (1.0, 70.0, 800.0, 4)
    assert npt.coupling == "isotropic"
    nvt = make_integrator("nvt", 2.0, thermostat_tau_fs=30.0, chain=2)
    assert (nvt.timestep_fs, nvt.tau_fs, nvt.chain_length) == (2.0, 30.0, 2)
    assert make_integrator("langevin", 0.5, friction_per_ps=10.0).friction_per_ps == 10.0
    assert make_integrator("relax", 0.5).relax_cell is False


@pytest.mark.parametrize("name,cls", [("nve", NVE), ("nvt", NoseHoover), ("langevin", Langevin), ("npt", MTKNPT),
                                      ("relax", FIRE)])
def test_unset_parameters_take_the_integrators_own_defaults(name, cls):
    assert make_integrator(name, 0.5) == (cls() if cls is FIRE else cls(timestep_fs=0.5))


@pytest.mark.parametrize("alias,name", [("nvt_nose_hoover", "nvt"), ("nvt_langevin", "langevin")])
def test_aliases_agree(alias, name):
    assert make_integrator(alias, 0.5) == make_integrator(name, 0.5)
    assert make_integrator(alias, 0.5, **PARAMETERS) == make_integrator(name, 0.5, **PARAMETERS)
    assert ENSEMBLES[alias] is ENSEMBLES[name]


def test_every_vocabulary_is_accepted():
    from typing import get_args

    from ilflow.config.learning import MDSampler
    from ilflow.config.production import StatePoints

    sampler = set(get_args(MDSampler.model_fields["ensemble"].annotation))
    production = set(get_args(StatePoints.model_fields["ensemble"].annotation))
    cli = {"nve", "nvt", "langevin", "npt", "relax"}
    assert sampler | production | cli <= set(ENSEMBLES)


@pytest.mark.parametrize("bad", ["nph", "NVT", ""])
def test_unknown_name_lists_the_choices(bad):
    with pytest.raises(ConfigError) as info:
        make_integrator(bad, 0.5)
    message = str(info.value)
    assert repr(bad) in message
    for name in ENSEMBLES:
        assert name in message
