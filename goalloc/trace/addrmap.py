"""Address -> dense object id map for importers (numba, open addressing, linear probing).

C and Go recorders name objects by address; the format wants dense ids (docs/trace-format.md).
Freed ids go on a stack and are handed out again, so ids stay below the peak live count.
All state is in four arrays so importer kernels can carry it from one block to the next.
"""

from __future__ import annotations

import numpy as np

from goalloc.jit import njit

EMPTY = np.int64(-1)
TOMB = np.int64(-2)


class AddrMap:
    """The arrays of one map: keys/vals (hash table), free-id stack, counters."""

    def __init__(self, capacity_log2: int = 16):
        cap = 1 << capacity_log2
        self.keys = np.full(cap, EMPTY, np.int64)
        self.vals = np.zeros(cap, np.int64)
        self.free_ids = np.zeros(1024, np.int64)
        # counters: [0] live entries, [1] used slots (live + tombstones), [2] free-id stack
        # depth, [3] next fresh id
        self.ctr = np.zeros(4, np.int64)

    def needs_grow(self, incoming: int) -> bool:
        return (self.ctr[1] + incoming) * 2 > self.keys.shape[0] or \
            self.ctr[2] + incoming > self.free_ids.shape[0]

    def grow(self, incoming: int) -> None:
        """Rehash into a table at most half full after `incoming` more inserts."""
        cap = self.keys.shape[0]
        while (self.ctr[0] + incoming) * 2 > cap:
            cap *= 2
        if (self.ctr[1] + incoming) * 2 > self.keys.shape[0]:
            keys = np.full(cap, EMPTY, np.int64)
            vals = np.zeros(cap, np.int64)
            _rehash(self.keys, self.vals, keys, vals)
            self.keys, self.vals = keys, vals
            self.ctr[1] = self.ctr[0]
        need = self.ctr[2] + incoming
        if need > self.free_ids.shape[0]:
            f = np.zeros(max(need, 2 * self.free_ids.shape[0]), np.int64)
            f[: self.free_ids.shape[0]] = self.free_ids
            self.free_ids = f


@njit(cache=True, inline="always")
def _slot(key, mask):
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h >> np.uint64(20)) & np.uint64(mask))


@njit(cache=True)
def _rehash(okeys, ovals, keys, vals):
    mask = keys.shape[0] - 1
    for i in range(okeys.shape[0]):
        k = okeys[i]
        if k >= 0:
            j = _slot(k, mask)
            while keys[j] != EMPTY:
                j = (j + 1) & mask
            keys[j] = k
            vals[j] = ovals[i]


@njit(cache=True)
def map_insert(keys, vals, free_ids, ctr, key):
    """Give `key` (>= 0) an id; returns (id, replaced) where replaced is the id the key held
    before (a live key inserted again) or -1. The caller guarantees room (AddrMap.grow)."""
    mask = keys.shape[0] - 1
    j = _slot(key, mask)
    tomb = -1
    while keys[j] != EMPTY:
        if keys[j] == key:
            old = vals[j]
            new = _take_id(free_ids, ctr)
            _give_id(free_ids, ctr, old)
            vals[j] = new
            return new, old
        if keys[j] == TOMB and tomb < 0:
            tomb = j
        j = (j + 1) & mask
    if tomb >= 0:
        j = tomb
    else:
        ctr[1] += 1
    keys[j] = key
    oid = _take_id(free_ids, ctr)
    vals[j] = oid
    ctr[0] += 1
    return oid, np.int64(-1)


@njit(cache=True)
def map_get(keys, vals, key):
    """The id `key` holds, or -1 if it is not in the map."""
    mask = keys.shape[0] - 1
    j = _slot(key, mask)
    while keys[j] != EMPTY:
        if keys[j] == key:
            return vals[j]
        j = (j + 1) & mask
    return np.int64(-1)


@njit(cache=True)
def map_remove(keys, vals, free_ids, ctr, key):
    """Forget `key`; returns the id it held (now free for reuse), or -1 if it was unknown."""
    mask = keys.shape[0] - 1
    j = _slot(key, mask)
    while keys[j] != EMPTY:
        if keys[j] == key:
            keys[j] = TOMB
            ctr[0] -= 1
            oid = vals[j]
            _give_id(free_ids, ctr, oid)
            return oid
        j = (j + 1) & mask
    return np.int64(-1)


@njit(cache=True, inline="always")
def _take_id(free_ids, ctr):
    if ctr[2] > 0:
        ctr[2] -= 1
        return free_ids[ctr[2]]
    oid = ctr[3]
    ctr[3] += 1
    return oid


@njit(cache=True, inline="always")
def _give_id(free_ids, ctr, oid):
    free_ids[ctr[2]] = oid
    ctr[2] += 1
