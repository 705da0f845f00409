"""Batch selection: last-layer gradient features against finite differences; MaxDist's greedy picks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ilflow.active.features import last_layer_features
from ilflow.active.selection import select_maxdist, select_random, unique_candidates
from ilflow.potentials.gmnn import GMNNConfig, energy, init_params
from ilflow.potentials.neighbors import host_neighbors
from ilflow.potentials.system import make_system

CONFIG = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(16, 8), dtype="float64")


def test_features_are_the_energy_gradient_with_respect_to_the_last_layer(box_2_pairs):
    params = jax.vmap(lambda k: init_params(CONFIG, k))(jax.random.split(jax.random.PRNGKey(2), 2))
    params["scale"] = params["scale"] * 1.7
    frames = [box_2_pairs.copy() for _ in range(3)]
    for k, frame in enumerate(frames):
        frame.rattle(0.05, seed=k)
    features = last_layer_features(CONFIG, params, frames, batch=2)
    assert features.shape == (3, 2 * (8 + 1))
    system = make_system(frames[1], CONFIG.elements)
    neighbors = host_neighbors(frames[1], CONFIG.cutoff_A)
    member = jax.tree.map(lambda x: x[1], params)
    h = 1e-5
    for unit in (0, 5, 8):  # two weights and the bias of member 1
        def e_at(delta):
            last = dict(member["layers"][-1])
            if unit < 8:
                last["w"] = last["w"].at[unit, 0].add(delta)
            else:
                last["b"] = last["b"].at[0].add(delta)
            return float(energy({**member, "layers": member["layers"][:-1] + [last]}, CONFIG, system, neighbors))
        numerical = (e_at(h) - e_at(-h)) / (2 * h)
        assert features[1, 9 + unit] == pytest.approx(numerical, rel=1e-6, abs=1e-9)
    projected = last_layer_features(CONFIG, params, frames, batch=2, projection_dim=4)
    assert projected.shape == (3, 4)


def test_maxdist_takes_the_farthest_points_and_counts_the_training_set():
    line = np.linspace(0.0, 10.0, 11)[:, None]  # candidates at 0, 1, ..., 10
    assert select_maxdist(line, 2).tolist() in ([0, 10], [10, 0])
    assert sorted(select_maxdist(line, 3).tolist()) == [0, 5, 10]
    trained = np.array([[0.0], [10.0]])  # the ends are known: the middle is the farthest
    assert select_maxdist(line, 1, trained).tolist() == [5]
    picks = select_maxdist(line, 11, trained)
    assert sorted(picks.tolist()) == list(range(11))  # every candidate once, never twice


def test_duplicates_and_random_selection():
    hashes = ["a", "b", "a", "c", "d", "b"]
    assert unique_candidates(hashes, known={"c"}).tolist() == [0, 1, 4]
    rng = np.random.default_rng(0)
    picks = select_random(10, 4, rng)
    assert len(set(picks.tolist())) == 4 and picks.max() < 10
    assert len(select_random(3, 5, rng)) == 3
