"""The hybrid potential of the study: E = E_GMNN + E_D3, with the ensemble's uncertainties.

D3 is evaluated once per configuration and added to every member (it has no parameters to vary), inside the
same jitted function as the network. Both terms have the common signature energy(params, system, neighbors).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ilflow.potentials.d3 import D3Config, D3Neighbors, d3_energy
from ilflow.potentials.d3_forces import d3_energy_forces_stress
from ilflow.potentials.ensemble import EnsembleResults
from ilflow.potentials.forces import energy_forces_stress
from ilflow.potentials.gmnn import GMNNConfig, energy as gmnn_energy
from ilflow.potentials.system import Neighbors, System


class HybridNeighbors(NamedTuple):
    gmnn: Neighbors  # within the GMNN cutoff
    d3: D3Neighbors  # within the D3 cutoffs


def hybrid_energy(params: dict, configs: tuple[GMNNConfig, D3Config], system: System,
                  neighbors: HybridNeighbors) -> jax.Array:
    """E_GMNN + E_D3 (eV) for one member: params = {"gmnn": member parameters, "d3": d3_tables(...)}."""
    gmnn_config, d3_config = configs
    return (gmnn_energy(params["gmnn"], gmnn_config, system, neighbors.gmnn)
            + d3_energy(params["d3"], d3_config, system, neighbors.d3))


def hybrid_ensemble_forces(params: dict, configs: tuple[GMNNConfig, D3Config], system: System,
                           neighbors: HybridNeighbors) -> EnsembleResults:
    """Ensemble mean + D3 for energy, forces and stress; standard deviations are the ensemble's (paper eqn 8)."""
    gmnn_config, d3_config = configs
    members = jax.vmap(lambda p: energy_forces_stress(lambda q, s, n: gmnn_energy(q, gmnn_config, s, n),
                                                      p, system, neighbors.gmnn))(params["gmnn"])
    d3 = d3_energy_forces_stress(params["d3"], d3_config, system, neighbors.d3)
    f_std = jnp.std(members.forces, axis=0)
    return EnsembleResults(jnp.mean(members.energy) + d3.energy, jnp.mean(members.forces, axis=0) + d3.forces,
                           jnp.mean(members.stress, axis=0) + d3.stress, jnp.std(members.energy), f_std,
                           jnp.std(members.stress, axis=0), jnp.max(jnp.where(system.mask[:, None], f_std, 0.0)))
