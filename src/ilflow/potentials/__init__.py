"""Potentials as pure JAX functions energy(params, system, neighbors) -> eV, and an ASE calculator."""

from ilflow.potentials.system import Neighbors, System, make_system
from ilflow.potentials.calculator import GMNNCalculator
from ilflow.potentials.ensemble import EnsembleResults, ensemble_forces
from ilflow.potentials.forces import Results, energy_forces_stress
from ilflow.potentials.gmnn import GMNNConfig, energy, init_params
from ilflow.potentials.model_io import load_model, save_model

Calculator = GMNNCalculator

__all__ = ["Calculator", "EnsembleResults", "GMNNCalculator", "GMNNConfig", "Neighbors", "Results", "System",
           "energy", "energy_forces_stress", "ensemble_forces", "init_params", "load_model", "make_system",
           "save_model"]
