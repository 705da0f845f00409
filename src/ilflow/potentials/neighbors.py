"""Neighbour lists in the dense format of `Neighbors`, correct for any triclinic cell (periodic images
included, so cells smaller than twice the cutoff work) and for padding atoms.

A list is either full (every pair twice, i -> j and j -> i; GMNN) or half (every pair once; D3's long pair
lists, where it halves the work). `keeps_half` decides which of the two entries of a pair a half list keeps,
balanced so that every row gets about half of its neighbours.

Two builders give the same lists:
- `host_neighbors`: NumPy/ASE, for fixed data (training sets) and isolated molecules.
- `build_neighbors`: jitted JAX cell list with fixed capacities (`NeighborSpec`) and an overflow flag;
  cost and memory grow linearly with the number of atoms. The host allocates a spec with `allocate`,
  the device builds, the host checks `overflow` once per chunk and reallocates if needed.
"""

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from ase.neighborlist import neighbor_list

from ilflow.potentials.system import Neighbors, System
from ilflow.runtime import ensure_configured

# Lattice translations of lists built on device, as small integers: MD carries the lists from step to step (a 23 Å
# D3 list of 120 atoms has ~3,500 slots per atom), and float64 shifts made them 28 bytes per slot instead of 10;
# the copies of that state cost ~7 ms per step at 120 atoms. int16: an unwrapped atom may drift many box lengths.
SHIFT_DTYPE = jnp.int16
BLOCK_CANDIDATES = 1 << 22  # (atom, candidate) pairs per block of a list build (bounds its memory)
HOST_COUNT_PAIRS = 2_000_000  # lists of up to about this many pairs are sized on the host (ASE: 2 s for 700,000)
IMAGE_LOOP_ATOMS = 2000  # up to this many atoms host lists loop over images with all pairs (N^2 per image)


def keeps_half(i, j, shift):
    """True for the one entry of each pair (i -> j at image `shift`, and j -> i at -shift) a half list keeps:
    for i < j the row of i when i + j is even and the row of j when it is odd, so every row keeps about half of
    its neighbours whatever the order of the atoms in space (a rule by index distance, e.g. j - i mod N < N/2,
    gave rows of 800 to 4,500 pairs in a box repeated along one axis); an atom's own images with a shift that is
    positive lexicographically. Works on NumPy and JAX arrays alike; `shift` has a trailing axis of 3."""
    s0, s1, s2 = shift[..., 0], shift[..., 1], shift[..., 2]
    positive = (s0 > 0) | ((s0 == 0) & ((s1 > 0) | ((s1 == 0) & (s2 > 0))))
    return ((i < j) == ((i + j) & 1 == 0)) & (i != j) | ((i == j) & positive)


def host_neighbors(atoms, cutoff_A: float, capacity: int | None = None, n_pad: int | None = None,
                   half: bool = False, bucketed: bool = False) -> Neighbors:
    """Dense neighbour list of one ASE Atoms (all pairs closer than `cutoff_A`, own images included);
    `half`: each pair once (see `keeps_half`); `bucketed`: the default capacity rounded up to one of a few sizes
    (steps of at most 1/8), so that frames of similar density share one compiled shape."""
    ensure_configured()  # shifts in float64
    n = len(atoms)
    n_pad = n if n_pad is None else n_pad
    if atoms.pbc.all() and n <= IMAGE_LOOP_ATOMS:
        i, j, S = periodic_pairs(atoms.positions, atoms.cell.array, cutoff_A)
    else:
        i, j, S = neighbor_list("ijS", atoms, cutoff_A, self_interaction=False)
    if half:
        keep = keeps_half(i, j, S)
        i, j, S = i[keep], j[keep], S[keep]
    counts = np.bincount(i, minlength=n)
    if capacity is None:
        capacity = int(counts.max(initial=0))
        if bucketed:
            capacity = padded_capacity(capacity, max(8, 1 << max(0, capacity.bit_length() - 4)))
    if counts.max(initial=0) > capacity:
        raise ValueError(f"an atom has {counts.max()} neighbours within {cutoff_A} Å, capacity is {capacity}")
    idx = np.full((n_pad, max(capacity, 1)), n_pad, dtype=np.int32)
    shifts = np.zeros((n_pad, max(capacity, 1), 3))
    order = np.argsort(i, kind="stable")
    i, j, S = i[order], j[order], S[order]
    slot = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
    idx[i, slot] = j
    shifts[i, slot] = S
    return Neighbors(jnp.asarray(idx), jnp.asarray(shifts))


def periodic_pairs(positions: np.ndarray, cell: np.ndarray, cutoff_A: float):
    """(i, j, S) of every pair closer than `cutoff_A` in a periodic cell, own images included, self pairs not:
    the vector is R_j - R_i + S @ cell, as ASE's neighbor_list gives it. All pairs per image, over the images
    that can hold a neighbour: 40x faster than ASE for long cutoffs (26 Å, 120 atoms: 0.1 s against 4 s)."""
    frac = positions @ np.linalg.inv(cell)
    home = np.floor(frac)
    wrapped = (frac - home) @ cell  # atoms moved into the cell by the lattice vectors `home`
    heights = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)  # distances between opposite faces
    reach = np.ceil(cutoff_A / heights).astype(int)
    diff = wrapped[None, :, :] - wrapped[:, None, :]  # (i, j, 3): R_j - R_i
    out_i, out_j, out_s = [], [], []
    for shift in np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), -1).reshape(-1, 3):
        d2 = np.sum((diff + shift @ cell) ** 2, axis=-1)
        i, j = np.nonzero(d2 < cutoff_A ** 2)
        if not shift.any():
            i, j = i[i != j], j[i != j]
        out_i.append(i)
        out_j.append(j)
        out_s.append(np.broadcast_to(shift, (len(i), 3)))
    i, j, shift = np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)
    return i, j, (shift - home[j] + home[i]).astype(int)


def widen(neighbors: Neighbors, capacity: int, n_pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(idx, shifts) of a host list with empty slots (index n_pad) appended up to `capacity` columns."""
    idx, shifts = np.asarray(neighbors.idx), np.asarray(neighbors.shifts)
    extra = capacity - idx.shape[1]
    return (np.pad(idx, ((0, 0), (0, extra)), constant_values=n_pad),
            np.pad(shifts, ((0, 0), (0, extra), (0, 0))))


def padded_capacity(capacity: int, multiple: int = 8) -> int:
    """`capacity` rounded up to a multiple: data sets of similar structures then share one compiled shape."""
    return -(-max(capacity, 1) // multiple) * multiple


class NeighborSpec(NamedTuple):
    """Static sizes of a cell-list build (hashable; changing it recompiles)."""

    cutoff_A: float  # model cutoff + skin
    bins: tuple[int, int, int]  # cell-list bins per lattice direction
    reach: tuple[int, int, int]  # bins searched on each side per direction
    bin_capacity: int  # atoms per bin
    capacity: int  # neighbours per atom
    half: bool = False  # each pair once (`keeps_half`)
    trim_cutoff_A: float = 0.0  # with trim_capacity > 0: the potential sees only the pairs within this radius,
    trim_capacity: int = 0  # compacted into this many slots per atom every step (`trim_neighbors`)


def _widths(cell: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of the cell (Å)."""
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)])


def _bin_capacity(frac: np.ndarray, bins: tuple[int, int, int], margin: float) -> int:
    """Atoms per bin with room to spare, from wrapped fractional coordinates (host side)."""
    b = np.minimum((frac * bins).astype(int), np.array(bins) - 1)
    flat = (b[:, 0] * bins[1] + b[:, 1]) * bins[2] + b[:, 2]
    return int(math.ceil(margin * np.bincount(flat, minlength=int(np.prod(bins))).max(initial=0))) + 1


def _bins_reach_capacity(cell: np.ndarray, frac: np.ndarray, cutoff_A: float, margin: float):
    """Bins per direction, search reach and bin capacity with the fewest distances to compute. Bins of about
    cutoff/2 usually win; for cells smaller than the cutoff one bin with images.
    The bins are chosen for the cell compressed by `margin` in volume: a box that shrinks a little (NPT, a box
    ramp) must not make them too small at once (reallocating from the same box would choose them again, forever)."""
    widths = _widths(cell) / margin ** (1 / 3)
    best = None
    for per_cutoff in (1, 2, 3, 4):
        bins = tuple(int(max(1, math.floor(w * per_cutoff / cutoff_A))) for w in widths)
        reach = tuple(int(math.ceil(cutoff_A / (w / b))) for w, b in zip(widths, bins))
        capacity = _bin_capacity(frac, bins, margin)
        # distances a build computes: every slot of every bin against every slot (rows of whole bytes) of its stencil
        candidates = np.prod(bins) * capacity * np.prod([2 * r + 1 for r in reach]) * padded_capacity(capacity)
        if best is None or candidates < best[0]:
            best = (candidates, bins, reach, capacity)
    return best[1:]


def _row_counts(system: System, spec: NeighborSpec, trim_cutoff_A: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs per real atom within the cutoff and within `trim_cutoff_A`. ASE on the host for short lists where each
    atom meets at most one image of another (0.2 s for 960 atoms at 6 Å: no compilation), else `count_neighbors`
    on the device (ASE took 3.7 s for 120 atoms at 23 Å and 22 s for 960 atoms at 14 Å; the device count 2 s,
    compilation included)."""
    cell, mask = np.asarray(system.cell), np.asarray(system.mask)
    n = int(mask.sum())
    pairs = n * n / abs(np.linalg.det(cell)) * 4.0 / 3.0 * math.pi * spec.cutoff_A**3  # about, for a liquid
    if spec.cutoff_A < 0.5 * _widths(cell).min() and pairs < HOST_COUNT_PAIRS:
        from ase import Atoms

        atoms = Atoms(positions=np.asarray(system.positions)[mask], cell=cell, pbc=True)
        i, j, S, d = neighbor_list("ijSd", atoms, spec.cutoff_A, self_interaction=False)
        if spec.half:
            keep = keeps_half(i, j, S)
            i, d = i[keep], d[keep]
        return np.bincount(i, minlength=len(atoms)), np.bincount(i[d < trim_cutoff_A], minlength=len(atoms))
    counts, inside, _ = count_neighbors(system, spec, float(trim_cutoff_A))
    return np.asarray(counts)[mask], np.asarray(inside)[mask]


def allocate(system: System | list[System], cutoff_A: float, margin: float = 1.3, half: bool = False,
             trim_cutoff_A: float | None = None) -> NeighborSpec:
    """Capacities for `system` with room to spare (`margin`), from a count of its pairs; with `trim_cutoff_A`
    (the model cutoff, smaller than `cutoff_A` by the skin) also the capacity of the trimmed rows. A list of
    systems (replicas of one composition in boxes of their own) gets one spec valid for all: per direction the
    fewest bins and the widest reach any of them chose, the largest capacities."""
    systems = [system] if isinstance(system, System) else list(system)
    fracs = []
    for one in systems:
        frac = np.asarray(one.positions)[np.asarray(one.mask)] @ np.linalg.inv(np.asarray(one.cell))
        fracs.append(frac - np.floor(frac))
    chosen = [_bins_reach_capacity(np.asarray(one.cell), frac, cutoff_A, margin) for one, frac in zip(systems, fracs)]
    bins = tuple(min(c[0][d] for c in chosen) for d in range(3))
    reach = tuple(max(c[1][d] for c in chosen) for d in range(3))  # fewer, wider bins: each replica's reach covers
    bin_capacity = max(_bin_capacity(frac, bins, margin) for frac in fracs)
    sizing = NeighborSpec(float(cutoff_A), bins, reach, bin_capacity, 0, half)
    rows = [_row_counts(one, sizing, trim_cutoff_A or 0.0) for one in systems]
    counts, inside = np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])

    def rows_for(count: np.ndarray) -> int:
        # Spare room shrinks for long rows, whose counts fluctuate less (relative spread ~ 1/sqrt(count)): the
        # full margin up to 100 neighbours, then (margin - 1) sqrt(100 / count), at least 10%. A 23 Å D3 row of
        # ~2,700 pairs gets 10% instead of 30%: 15% less work per evaluation; an overflow reallocates.
        most = count.max(initial=0)
        spare = (margin - 1.0) * min(1.0, math.sqrt(100.0 / max(most, 1)))
        return int(math.ceil((1.0 + max(spare, min(0.1, margin - 1.0))) * most)) + 1

    capacity = rows_for(counts)
    if trim_cutoff_A is None:
        return sizing._replace(capacity=capacity)
    return sizing._replace(capacity=capacity, trim_cutoff_A=float(trim_cutoff_A),
                           trim_capacity=min(rows_for(inside), capacity))


def _pack_bits(valid: jax.Array) -> jax.Array:
    """(B, K) booleans as (B, ceil(K / 32)) 32-bit words: entry k is bit k % 32 of word k // 32. Packed bytewise,
    then four bytes to a word: packing straight to 32-bit words, summing the booleans, or padding rows that are
    not whole bytes kept XLA on CPU from fusing the packing into the distance test of a list build (4-10x slower);
    the build's rows are whole bytes."""
    if valid.shape[1] % 8:
        valid = jnp.pad(valid, ((0, 0), (0, -valid.shape[1] % 8)))
    rows, k = valid.shape
    bits = valid.reshape(rows, k // 8, 8).astype(jnp.uint8) << jnp.arange(8, dtype=jnp.uint8)
    octets = jnp.sum(bits, axis=-1, dtype=jnp.uint8)
    octets = jnp.pad(octets, ((0, 0), (0, -octets.shape[1] % 4)))
    return jax.lax.bitcast_convert_type(octets.reshape(rows, -1, 4), jnp.uint32)  # little-endian: byte 0 lowest


def _compact(words: jax.Array, capacity: int):
    """Per row of packed booleans (`_pack_bits`), the positions of the first `capacity` set bits, without a scatter
    and without a running sum over all entries (XLA on CPU makes that a reduce-window, the slowest part of a list
    build): a search over the words' running popcounts finds the word of the k-th entry, five halving steps the
    bit inside it. Returns (positions (B, capacity), filled, count (B,))."""
    counts = jax.lax.population_count(words).astype(jnp.int32)
    running = jnp.cumsum(counts, axis=1, dtype=jnp.int32)
    k = jnp.arange(1, capacity + 1, dtype=jnp.int32)
    word = jax.vmap(lambda c: jnp.searchsorted(c, k))(running)  # the word holding the k-th entry
    filled = word < running.shape[1]
    word = jnp.minimum(word, running.shape[1] - 1)
    rank = k - jnp.take_along_axis(running - counts, word, axis=1)  # 1-based rank of the entry in its word
    bits = jnp.take_along_axis(words, word, axis=1)
    position = jnp.zeros_like(rank)
    for width in (16, 8, 4, 2, 1):  # binary search for the bit of that rank
        low = jax.lax.population_count((bits >> position.astype(jnp.uint32))
                                       & jnp.uint32((1 << width) - 1)).astype(jnp.int32)
        higher = rank > low
        rank = jnp.where(higher, rank - low, rank)
        position = jnp.where(higher, position + width, position)
    return word * 32 + position, filled, running[:, -1]


def _stencil(reach: tuple[int, int, int]) -> np.ndarray:
    r = [np.arange(-k, k + 1) for k in reach]
    return np.stack(np.meshgrid(*r, indexing="ij"), axis=-1).reshape(-1, 3).astype(np.int32)


class _BinTable(NamedTuple):
    """Atoms sorted into the bins of a spec (inside a jitted build or count)."""

    table: jax.Array  # (n_bins + 1, stride) atom indices per bin, n = empty
    slot: jax.Array  # (n,) each atom's row in the table's first `bin_capacity` columns, flattened
    image: jax.Array  # (n, 3) lattice translation that wraps each atom into the cell
    xyz: jax.Array  # (3, n_bins + 1, stride) wrapped coordinates per table entry (empty slots far away)
    overflow: jax.Array  # a bin held more than bin_capacity atoms


def _bin_table(system: System, spec: NeighborSpec) -> _BinTable:
    n = system.positions.shape[0]
    nbx, nby, nbz = spec.bins
    n_bins, width = nbx * nby * nbz, spec.bin_capacity
    bins = jnp.array(spec.bins, dtype=jnp.int32)
    frac = system.positions @ jnp.linalg.inv(system.cell)
    image = jnp.floor(frac)  # wrapped = original - image @ cell
    b3 = jnp.minimum(((frac - image) * bins).astype(jnp.int32), bins - 1)
    flat = (b3[:, 0] * nby + b3[:, 1]) * nbz + b3[:, 2]
    flat = jnp.where(system.mask, flat, n_bins)  # padding atoms go to a bin nobody visits
    # columns beyond bin_capacity stay empty: rows of a multiple of 8 entries pack into bytes
    stride = padded_capacity(width)
    order = jnp.argsort(flat)
    sorted_bins = flat[order]
    rank = jnp.arange(n, dtype=jnp.int32) - jnp.searchsorted(sorted_bins, jnp.arange(n_bins + 1))[sorted_bins]
    overflow = jnp.any((rank >= width) & (sorted_bins < n_bins))
    table = jnp.full((n_bins + 1, stride), n, dtype=jnp.int32)
    table = table.at[sorted_bins, jnp.minimum(rank, width - 1)].set(
        jnp.where(rank < width, order, n).astype(jnp.int32), mode="drop")
    slot = jnp.zeros(n, jnp.int32).at[order].set(sorted_bins * width + jnp.minimum(rank, width - 1))
    wrapped = system.positions - image @ system.cell
    far = jnp.full((1, 3), 1e6 * (spec.cutoff_A + 1.0), wrapped.dtype)  # empty slots: never in range of an atom
    return _BinTable(table, slot, image, jnp.concatenate([wrapped, far]).T[:, table], overflow)


def _bin_blocks(spec: NeighborSpec) -> jax.Array:
    """Home bins in blocks of at most BLOCK_CANDIDATES (atom, candidate) pairs: (blocks, bins per block);
    entries n_bins and beyond pad the last block."""
    n_bins = int(np.prod(spec.bins))
    per_row = len(_stencil(spec.reach)) * padded_capacity(spec.bin_capacity)
    per_block = max(1, min(n_bins, BLOCK_CANDIDATES // (spec.bin_capacity * per_row)))
    n_blocks = -(-n_bins // per_block)
    return jnp.arange(n_blocks * per_block, dtype=jnp.int32).reshape(n_blocks, per_block)


def _block_pairs(system: System, spec: NeighborSpec, bt: _BinTable, homes: jax.Array):
    """The atoms of home bins `homes` (h,) against every slot of their stencils: (valid, dist2, visited, wrap),
    valid and dist2 of shape (h, bin_capacity, stencil size, stride), visited (h, M) the visited bins, wrap
    (h, M, 3) their lattice translations."""
    n = system.positions.shape[0]
    _, nby, nbz = spec.bins
    n_bins, width = int(np.prod(spec.bins)), spec.bin_capacity
    bins = jnp.array(spec.bins, dtype=jnp.int32)
    stencil = jnp.asarray(_stencil(spec.reach))  # (M, 3)
    home_bin = jnp.minimum(homes, n_bins)
    home3 = jnp.stack([home_bin // (nby * nbz), home_bin // nbz % nby, home_bin % nbz], axis=-1)
    target = home3[:, None, :] + stencil[None]  # (h, M, 3)
    wrap = jnp.floor_divide(target, bins)  # lattice translation of each visited bin
    tb = target - wrap * bins
    visited = (tb[..., 0] * nby + tb[..., 1]) * nbz + tb[..., 2]  # (h, M)
    offset = wrap.astype(bt.xyz.dtype) @ system.cell  # (h, M, 3)
    dist2 = sum((bt.xyz[k][visited][:, None] + offset[:, None, :, k, None]
                 - bt.xyz[k][home_bin][:, :width, None, None]) ** 2 for k in range(3))  # (h, width, M, stride)
    i = bt.table[home_bin][:, :width, None, None]
    j = bt.table[visited][:, None]
    own_image = jnp.all(wrap == 0, axis=-1)[:, None, :, None]
    valid = ((i < n) & (j < n) & (homes < n_bins)[:, None, None, None] & ~((i == j) & own_image)
             & (dist2 < spec.cutoff_A**2))
    if spec.half:  # the shift matters only for an atom's own images, where it is the bin's translation
        valid = valid & keeps_half(i, j, wrap[:, None, :, None, :])
    return valid, dist2, visited, wrap


@partial(jax.jit, static_argnums=(1, 2))
def count_neighbors(system: System, spec: NeighborSpec, trim_cutoff_A: float = 0.0):
    """Neighbours of each atom within `spec.cutoff_A` (and within `trim_cutoff_A` when > 0), counted by the
    cell list of a build without storing the pairs: memory per block of bins, cost linear in the atoms. Used to
    size lists where a cutoff spans several images (`allocate`): ASE's neighbour list took 140 s for 960 atoms at
    22 Å, and 3,240 atoms ran out of 24 GB of memory.
    Returns (counts (n,), trimmed counts (n,), bin overflow); padding atoms count 0."""
    bt = _bin_table(system, spec)

    def one_block(homes):
        valid, dist2, _, _ = _block_pairs(system, spec, bt, homes)
        rows = valid.reshape(-1, valid.shape[2] * valid.shape[3])
        inside = (valid & (dist2 < trim_cutoff_A**2)).reshape(rows.shape)
        return jnp.sum(rows, axis=1, dtype=jnp.int32), jnp.sum(inside, axis=1, dtype=jnp.int32)

    counts, trimmed = jax.lax.map(one_block, _bin_blocks(spec))
    rows = jnp.where(system.mask, bt.slot, 0)
    return (jnp.where(system.mask, counts.reshape(-1)[rows], 0), jnp.where(system.mask, trimmed.reshape(-1)[rows], 0),
            bt.overflow)


@partial(jax.jit, static_argnums=1)
def build_neighbors(system: System, spec: NeighborSpec) -> tuple[Neighbors, jax.Array]:
    """Cell-list neighbour list of a periodic system within `spec.cutoff_A`; returns (neighbors, overflow).

    `overflow` is True if a bin or an atom's neighbour row was too small, or the cell shrank so that the
    bins no longer cover the cutoff; the list is then incomplete and must be rebuilt with a new spec.

    Bin by bin: the atoms of a home bin meet the atoms of each bin of the stencil (its image shift added once
    per bin pair), coordinates as separate x, y, z arrays. Gathering a candidate's position per atom instead
    (array of (atom, candidate, xyz)) made a 20 Å list of 120 atoms 3x slower, all of it memory traffic.
    """
    n = system.positions.shape[0]
    width, stride = spec.bin_capacity, padded_capacity(spec.bin_capacity)
    bt = _bin_table(system, spec)

    def one_block(homes):
        valid, _, visited, wrap = _block_pairs(system, spec, bt, homes)
        h, m = visited.shape
        column, filled, count = _compact(_pack_bits(valid.reshape(h * width, m * stride)), spec.capacity)
        column = jnp.minimum(column, m * stride - 1).reshape(h, width * spec.capacity)
        neighbor = jnp.take_along_axis(bt.table[visited].reshape(h, -1), column, axis=1)
        translation = jnp.take_along_axis(wrap, (column // stride)[..., None], axis=1)
        return (jnp.where(filled, neighbor.reshape(h * width, -1), n), translation.reshape(h * width, -1, 3),
                count.max())

    neighbor, translation, counts = jax.lax.map(one_block, _bin_blocks(spec))
    rows = jnp.where(system.mask, bt.slot, 0)
    idx = jnp.where(system.mask[:, None], neighbor.reshape(-1, spec.capacity)[rows], n).astype(jnp.int32)
    safe = jnp.minimum(idx, n - 1)
    shifts = translation.reshape(-1, spec.capacity, 3)[rows] - bt.image[safe] + bt.image[:, None, :]
    shifts = jnp.where((idx < n)[..., None], shifts, 0).astype(SHIFT_DTYPE)  # relative to the original positions

    widths = jnp.abs(jnp.linalg.det(system.cell)) / jnp.linalg.norm(
        jnp.cross(jnp.roll(system.cell, -1, axis=0), jnp.roll(system.cell, -2, axis=0)), axis=1)
    too_small = jnp.any(widths / jnp.array(spec.bins) * jnp.array(spec.reach) < spec.cutoff_A)
    overflow = bt.overflow | (jnp.max(counts) > spec.capacity) | too_small
    return Neighbors(idx, shifts), overflow


def trim_neighbors(system: System, neighbors: Neighbors, spec: NeighborSpec) -> tuple[Neighbors, jax.Array]:
    """The pairs of a list built with a skin that are within `spec.trim_cutoff_A` now, compacted into
    `spec.trim_capacity` slots per atom (the potential's work scales with the slots); returns (list, overflow)."""
    n = system.positions.shape[0]
    idx = neighbors.idx
    vec = (system.positions[jnp.minimum(idx, n - 1)] - system.positions[:, None, :]
           + neighbors.shifts @ system.cell)
    inside = (idx < n) & (jnp.sum(vec**2, axis=-1) < spec.trim_cutoff_A**2)
    where, filled, count = _compact(_pack_bits(inside), spec.trim_capacity)
    where = jnp.minimum(where, inside.shape[1] - 1)
    trimmed = Neighbors(jnp.where(filled, jnp.take_along_axis(idx, where, axis=1), n).astype(idx.dtype),
                        jnp.where(filled[..., None], jnp.take_along_axis(neighbors.shifts, where[..., None], axis=1),
                                  jnp.zeros((), neighbors.shifts.dtype)))
    return trimmed, jnp.any(count > spec.trim_capacity)


def max_displacement(positions: jax.Array, reference: jax.Array, mask: jax.Array) -> jax.Array:
    """Largest displacement (Å) of real atoms since the list was built (rebuild when > skin / 2)."""
    return jnp.sqrt(jnp.max(jnp.where(mask, jnp.sum((positions - reference) ** 2, axis=-1), 0.0)))
