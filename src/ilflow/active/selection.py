"""Batch selection of candidates for labelling: random, or greedy farthest-point (MaxDist) in feature space.

MaxDist (Zaverkin et al. 2022): repeatedly take the candidate farthest (Euclidean) from everything already
selected, where the existing training set counts as selected from the start. Duplicates (same structure
hash as a training frame or an earlier candidate) are never selected. Above `pool_cap` candidates the pool
is first thinned at random.
"""

import numpy as np


def unique_candidates(hashes: list[str], known: set[str]) -> np.ndarray:
    """Indices of the first occurrence of every hash that is not already `known`."""
    seen = set(known)
    keep = []
    for k, h in enumerate(hashes):
        if h not in seen:
            seen.add(h)
            keep.append(k)
    return np.array(keep, dtype=int)


def select_random(n_candidates: int, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n_candidates, size=min(n, n_candidates), replace=False))


def select_maxdist(candidates: np.ndarray, n: int, selected: np.ndarray | None = None) -> np.ndarray:
    """Greedy farthest-point selection of `n` rows of `candidates` (C, D), given already `selected` (S, D)."""
    candidates = np.asarray(candidates, dtype=float)
    if len(candidates) == 0 or n <= 0:
        return np.zeros(0, dtype=int)
    picks: list[int] = []
    if selected is not None and len(selected):
        nearest = np.min(_distances(candidates, np.asarray(selected, dtype=float)), axis=1)
    else:  # nothing selected yet: start from the candidate farthest from the pool's mean
        picks.append(int(np.argmax(np.linalg.norm(candidates - candidates.mean(0), axis=1))))
        nearest = np.linalg.norm(candidates - candidates[picks[0]], axis=1)
    nearest[picks] = -1.0
    while len(picks) < min(n, len(candidates)):
        k = int(np.argmax(nearest))
        picks.append(k)
        nearest = np.minimum(nearest, np.linalg.norm(candidates - candidates[k], axis=1))
        nearest[picks] = -1.0  # never twice
    return np.array(picks, dtype=int)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))
