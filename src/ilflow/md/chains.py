"""Nose-Hoover chains (Martyna, Klein & Tuckerman 1992) and their time-reversible propagator with
Suzuki-Yoshida factorisation (Martyna, Tuckerman, Tobias & Klein 1996), for particles or a barostat.

A chain of M thermostats acts on a kinetic energy with `ndof` degrees of freedom; masses Q_1 = ndof kT tau^2,
Q_k = kT tau^2. `half_chain_step` propagates the chain over dt/2 and returns the factor that scales the
momenta it acts on.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

SUZUKI_YOSHIDA = {1: (1.0,), 3: (0.828981543588751, -0.657963087177502, 0.828981543588751),
                  5: (0.2967324292201065, 0.2967324292201065, -0.186929716880426, 0.2967324292201065,
                      0.2967324292201065)}


class Chain(NamedTuple):
    positions: jax.Array  # (M,) dimensionless thermostat coordinates
    velocities: jax.Array  # (M,) 1 / ASE time
    masses: jax.Array  # (M,) eV ASE-time^2


def chain_masses(length: int, ndof, kt, tau) -> jax.Array:
    return jnp.full((length,), kt * tau**2).at[0].set(ndof * kt * tau**2)


def new_chain(length: int, ndof, kt, tau) -> Chain:
    zeros = jnp.zeros(length)
    return Chain(zeros, zeros, chain_masses(length, ndof, kt, tau))


def half_chain_step(chain: Chain, ke2, ndof, kt, tau, dt, sy_order: int = 3, substeps: int = 1):
    """exp(iL_NHC dt/2) for a kinetic energy 2K = `ke2` (eV): returns (chain, momentum scale factor).
    The masses follow the target temperature kt (eV) so that ramps keep the relaxation time."""
    m = chain.positions.shape[0]
    q = chain_masses(m, ndof, kt, tau)
    v, x = chain.velocities, chain.positions

    def force_on(k, v, ke2):
        return (ke2 - ndof * kt) / q[0] if k == 0 else (q[k - 1] * v[k - 1] ** 2 - kt) / q[k]

    scale = 1.0
    for w in SUZUKI_YOSHIDA[sy_order]:
        for _ in range(substeps):
            d = w * dt / substeps
            v = v.at[m - 1].add(0.25 * d * force_on(m - 1, v, ke2))
            for k in range(m - 2, -1, -1):
                a = jnp.exp(-0.125 * d * v[k + 1])
                v = v.at[k].set((v[k] * a + 0.25 * d * force_on(k, v, ke2)) * a)
            s = jnp.exp(-0.5 * d * v[0])
            scale = scale * s
            ke2 = ke2 * s**2
            x = x + 0.5 * d * v
            for k in range(m - 1):
                a = jnp.exp(-0.125 * d * v[k + 1])
                v = v.at[k].set((v[k] * a + 0.25 * d * force_on(k, v, ke2)) * a)
            v = v.at[m - 1].add(0.25 * d * force_on(m - 1, v, ke2))
    return Chain(x, v, q), scale


def chain_energy(chain: Chain, ndof, kt) -> jax.Array:
    """The chain's contribution to the conserved energy (eV)."""
    return (jnp.sum(0.5 * chain.masses * chain.velocities**2) + ndof * kt * chain.positions[0]
            + kt * jnp.sum(chain.positions[1:]))
