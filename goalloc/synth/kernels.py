"""numba kernels for `goalloc synth`: one per workload, each filling columnar event buffers.

Every kernel call resumes from state held in arrays (RNG, scalar state `st`, pools) and emits
exactly one event per step, so output does not depend on how the driver slices the run. A step
first checks capacities; when one is short it returns with a GROW status before drawing any
random number (or restores the RNG), the driver enlarges the array and calls again.
"""

from __future__ import annotations

import numpy as np

from goalloc.jit import kernel
from goalloc.synth.rng import below, exp1, uniform

ALLOC = 1  # goalloc.trace.format.ALLOC / FREE / FLAG_NOSCAN, repeated to keep this module light
FREE = 2
NOSCAN = 1

# Status codes left in st[ST_STATUS] when a kernel returns before filling its buffer.
OK = 0
GROW_IDS = 1
GROW_ARENA = 2

# Scalar state shared by all kernels (int64 array `st`); workload-specific slots start at ST_W.
ST_STATUS = 0
ST_NOW = 1  # clock, ns
ST_NEXT_ID = 2  # next never-used id
ST_NFREE = 3  # ids on the free-id stack
ST_EMITTED = 4
ST_TOTAL = 5  # events the whole run will emit
ST_ALLOCS = 6
ST_W = 8
ST_LEN = 16

# Parameters shared by all kernels: ints `ip`, floats `fp`; workload ones start at index 2.
IP_PROCS = 0
IP_GAP = 1  # mean gap between events, ns (uniform 0..2*gap)
FP_NOSCAN = 0  # probability an allocation is pointer-free


@kernel(inline="always")
def _new_id(fstack, nfree, next_id):
    """Pop a recycled id (LIFO) or mint the next one, so ids stay below peak live.
    Returns (id, nfree, next_id): counters live in locals, not in an array LLVM must assume
    aliases the other int64 arrays (that alone cost ~10 ns per event)."""
    if nfree > 0:
        return fstack[nfree - 1], nfree - 1, next_id
    return next_id, nfree, next_id + 1


@kernel(inline="always")
def _free_id(fstack, nfree, oid):
    fstack[nfree] = oid
    return nfree + 1


@kernel(inline="always")
def _size(rs, bcdf, bexp):
    """Bucket b with probability from `bcdf` (cumulative), then a size uniform in (2^b, 2^(b+1)]."""
    u = uniform(rs)
    j = 0
    while j < len(bcdf) - 1 and u >= bcdf[j]:
        j += 1
    half = np.int64(1) << bexp[j]
    return half + 1 + below(rs, half)


@kernel(inline="always")
def _put(out, i, kind, now, p, oid, size, flags):
    """Write event i. Returns 1 for an alloc, else 0.

    The caller draws the alloc's noscan flag in its own body, as the step's last draw: when it
    was drawn in here, an inlined helper that takes arrays and branches inside, numba kept an
    atomic incref/decref of every array argument (`rs` and the six `out` columns) on every
    event, ~20 % of the profile kernel's time."""
    out[0][i] = kind
    out[1][i] = now
    out[2][i] = p
    out[3][i] = oid
    out[4][i] = size
    out[5][i] = flags
    return 1 if kind == ALLOC else 0


@kernel(inline="always")
def _save(st, nfree, next_id, now, allocs, emitted):
    st[ST_NFREE] = nfree
    st[ST_NEXT_ID] = next_id
    st[ST_NOW] = now
    st[ST_ALLOCS] = allocs
    st[ST_EMITTED] += emitted


# -- steady server ------------------------------------------------------------------------

S_CACHE_N = ST_W  # cache slots filled so far
S_PEND_SLOT = ST_W + 1  # cache slot whose replacement alloc is due next (-1: none)
S_PEND_P = ST_W + 2
SP_LIVE = 2  # ip: cache slots
SP_MAXREQ = 3  # ip: objects one request may hold
SF_REPLACE = 1  # fp: probability a step (cache full) replaces a cache object
SF_FILL = 2  # fp: probability a step (cache filling) allocates a cache object
SF_REQ_MEAN = 3  # fp: mean objects per request


@kernel
def steady(
    rs,
    st,
    ip,
    fp,
    fstack,
    cache,
    req_ids,
    req_n,
    req_left,
    cb_cdf,
    cb_exp,
    rb_cdf,
    rb_exp,
    out,
    i,
    n,
):
    st[ST_STATUS] = OK
    nfree, next_id, now, allocs = st[ST_NFREE], st[ST_NEXT_ID], st[ST_NOW], st[ST_ALLOCS]
    noscan = fp[FP_NOSCAN]
    i0 = i
    live = ip[SP_LIVE]
    maxreq = ip[SP_MAXREQ]
    while i < n:
        if next_id >= len(fstack):
            st[ST_STATUS] = GROW_IDS
            break
        kind = ALLOC
        oid = 0
        size = 0
        slot = st[S_PEND_SLOT]
        if slot >= 0:  # second half of a cache replacement
            p = st[S_PEND_P]
            st[S_PEND_SLOT] = -1
        else:
            p = below(rs, ip[IP_PROCS])
            cn = st[S_CACHE_N]
            if cn < live:
                if uniform(rs) < fp[SF_FILL]:
                    slot = cn
                    st[S_CACHE_N] = cn + 1
            elif uniform(rs) < fp[SF_REPLACE]:
                kind = FREE
                victim = below(rs, live)
                oid = cache[victim]
                st[S_PEND_SLOT] = victim
                st[S_PEND_P] = p
        if slot >= 0:
            oid, nfree, next_id = _new_id(fstack, nfree, next_id)
            cache[slot] = oid
            size = _size(rs, cb_cdf, cb_exp)
        elif kind == ALLOC:
            # The P's request: allocate its burst, then free it all (newest first) at its end.
            left = req_left[p]
            if left == 0:
                left = min(1 + np.int64(fp[SF_REQ_MEAN] * exp1(rs)), maxreq)
            base = p * maxreq
            if left > 0:
                oid, nfree, next_id = _new_id(fstack, nfree, next_id)
                req_ids[base + req_n[p]] = oid
                req_n[p] += 1
                req_left[p] = -1 if left == 1 else left - 1
                size = _size(rs, rb_cdf, rb_exp)
            else:
                kind = FREE
                k = req_n[p] - 1
                oid = req_ids[base + k]
                req_n[p] = k
                if k == 0:
                    req_left[p] = 0
        if kind == FREE:
            nfree = _free_id(fstack, nfree, oid)
        now += below(rs, 2 * ip[IP_GAP] + 1)
        flags = NOSCAN if kind == ALLOC and uniform(rs) < noscan else 0  # last draw of a step
        allocs += _put(out, i, kind, now, p, oid, size, flags)
        i += 1
    _save(st, nfree, next_id, now, allocs, i - i0)
    return i


# -- short-lived ring (batch temporaries, fragmenter) ---------------------------------------

R_HEAD = ST_W  # oldest object in the FIFO ring
R_N = ST_W + 1


@kernel(inline="always")
def _ring_push(st, ring, oid):
    j = st[R_HEAD] + st[R_N]
    if j >= len(ring):  # a compare, not a ~30-cycle modulo
        j -= len(ring)
    ring[j] = oid
    st[R_N] += 1


@kernel(inline="always")
def _ring_pop(st, ring):
    h = st[R_HEAD]
    oid = ring[h]
    st[R_HEAD] = 0 if h + 1 == len(ring) else h + 1
    st[R_N] -= 1
    return oid


# -- growing batch job --------------------------------------------------------------------

B_KEPT_N = ST_W + 2
B_MODE = ST_W + 3  # 0: building, 1: releasing
B_PHASE = ST_W + 4
BP_TARGET = 2  # ip: kept objects at the peak of a phase
BF_KEEP = 1  # fp: probability an allocation is kept for the phase (else a temporary)


@kernel
def batch(rs, st, ip, fp, fstack, kept, ring, b_cdf, b_exp, out, i, n):
    st[ST_STATUS] = OK
    nfree, next_id, now, allocs = st[ST_NFREE], st[ST_NEXT_ID], st[ST_NOW], st[ST_ALLOCS]
    noscan = fp[FP_NOSCAN]
    i0 = i
    target = ip[BP_TARGET]
    while i < n:
        if next_id >= len(fstack):
            st[ST_STATUS] = GROW_IDS
            break
        p = below(rs, ip[IP_PROCS])
        kind = FREE
        size = 0
        if st[R_N] == len(ring) or (st[B_MODE] == 1 and st[R_N] > 0):
            oid = _ring_pop(st, ring)
        elif st[B_MODE] == 1:  # release the phase's heap in random order
            k = st[B_KEPT_N]
            j = below(rs, k)
            oid = kept[j]
            kept[j] = kept[k - 1]
            st[B_KEPT_N] = k - 1
            if k == 1:
                st[B_MODE] = 0
                st[B_PHASE] += 1
        else:
            kind = ALLOC
            keep = uniform(rs) < fp[BF_KEEP]
            size = _size(rs, b_cdf, b_exp)
            oid, nfree, next_id = _new_id(fstack, nfree, next_id)
            if keep:
                kept[st[B_KEPT_N]] = oid
                st[B_KEPT_N] += 1
                if st[B_KEPT_N] == target:
                    st[B_MODE] = 1
            else:
                _ring_push(st, ring, oid)
        if kind == FREE:
            nfree = _free_id(fstack, nfree, oid)
        now += below(rs, 2 * ip[IP_GAP] + 1)
        flags = NOSCAN if kind == ALLOC and uniform(rs) < noscan else 0  # last draw of a step
        allocs += _put(out, i, kind, now, p, oid, size, flags)
        i += 1
    _save(st, nfree, next_id, now, allocs, i - i0)
    return i


# -- fragmenter -----------------------------------------------------------------------------

F_COUNT = ST_W + 2
FR_KEEP_EVERY = 2  # ip: every k-th allocation lives to the end


@kernel
def fragmenter(rs, st, ip, fp, fstack, ring, f_cdf, f_exp, out, i, n):
    st[ST_STATUS] = OK
    nfree, next_id, now, allocs = st[ST_NFREE], st[ST_NEXT_ID], st[ST_NOW], st[ST_ALLOCS]
    noscan = fp[FP_NOSCAN]
    i0 = i
    k = ip[FR_KEEP_EVERY]
    left = st[ST_TOTAL] - st[ST_EMITTED]
    while i < n:
        if next_id >= len(fstack):
            st[ST_STATUS] = GROW_IDS
            break
        p = below(rs, ip[IP_PROCS])
        rn = st[R_N]
        # Free the oldest short-lived object when the window is full, and drain the window
        # before the run ends so that exactly the kept objects are live at the end.
        if rn > 0 and (rn == len(ring) or left - (i - i0) <= rn):
            kind = FREE
            oid = _ring_pop(st, ring)
            nfree = _free_id(fstack, nfree, oid)
            size = 0
        else:
            kind = ALLOC
            oid, nfree, next_id = _new_id(fstack, nfree, next_id)
            st[F_COUNT] += 1  # allocations since the last kept one
            if st[F_COUNT] == k:
                st[F_COUNT] = 0
            else:
                _ring_push(st, ring, oid)
            size = _size(rs, f_cdf, f_exp)
        now += below(rs, 2 * ip[IP_GAP] + 1)
        flags = NOSCAN if kind == ALLOC and uniform(rs) < noscan else 0  # last draw of a step
        allocs += _put(out, i, kind, now, p, oid, size, flags)
        i += 1
    _save(st, nfree, next_id, now, allocs, i - i0)
    return i


# -- large-object churn -----------------------------------------------------------------------

L_LIVE_N = ST_W
LP_TARGET = 2  # ip: mean live objects


@kernel
def large(rs, st, ip, fp, fstack, live, l_cdf, l_exp, out, i, n):
    st[ST_STATUS] = OK
    nfree, next_id, now, allocs = st[ST_NFREE], st[ST_NEXT_ID], st[ST_NOW], st[ST_ALLOCS]
    noscan = fp[FP_NOSCAN]
    i0 = i
    target = np.float64(ip[LP_TARGET])
    while i < n:
        if next_id >= len(fstack):
            st[ST_STATUS] = GROW_IDS
            break
        p = below(rs, ip[IP_PROCS])
        m = st[L_LIVE_N]
        # Birth w.p. L/(L+m), else a uniformly chosen live object dies: live hovers at L and
        # every object has the same (geometric, memoryless) lifetime of mean ~2L events.
        if m == 0 or (m < len(live) and uniform(rs) * (target + m) < target):
            kind = ALLOC
            oid, nfree, next_id = _new_id(fstack, nfree, next_id)
            live[m] = oid
            st[L_LIVE_N] = m + 1
            size = _size(rs, l_cdf, l_exp)
        else:
            kind = FREE
            j = below(rs, m)
            oid = live[j]
            live[j] = live[m - 1]
            st[L_LIVE_N] = m - 1
            nfree = _free_id(fstack, nfree, oid)
            size = 0
        now += below(rs, 2 * ip[IP_GAP] + 1)
        flags = NOSCAN if kind == ALLOC and uniform(rs) < noscan else 0  # last draw of a step
        allocs += _put(out, i, kind, now, p, oid, size, flags)
        i += 1
    _save(st, nfree, next_id, now, allocs, i - i0)
    return i


# -- size profile birth/death process ------------------------------------------------------

PR_ARENA_TOP = ST_W  # first unused arena slot
PP_LEAVES = 2  # ip: segment-tree leaves (a power of two >= number of sizes)
PF_ALLOC_RATE = 1  # fp: total allocation rate A (profile units)
PF_UNIT_NS = 2  # fp: ns per profile time unit
PF_CLOCK = 3  # fp: the continuous clock, ns (ts = floor of it)


@kernel(inline="always")
def _tree_set(tree, leaves, s, w):
    """Set leaf s and recompute its ancestors from their children (exact: no drift).

    The running sum stays in a register and only the siblings are loaded (their addresses are
    known up front), so the ten levels cost ten dependent adds instead of ten store-to-load
    round trips. IEEE addition is commutative, so `v + sibling` equals `left + right` bit for
    bit whichever side v is on."""
    j = leaves + s
    v = w
    tree[j] = v
    while j > 1:
        v += tree[j ^ 1]
        j >>= 1
        tree[j] = v


@kernel(inline="always")
def _tree_find(tree, leaves, x):
    """The leaf where the prefix sum of the leaves passes x (x in [0, tree[1]))."""
    j = 1
    while j < leaves:  # branch-free: the path is random, so branches would mispredict
        right = np.int64(x >= tree[2 * j])
        # Going right subtracts the left child's sum. tree[0] is never set (the root is
        # tree[1]) and stays 0.0, so an integer-selected index keeps this free of branches;
        # `left if right else 0.0` compiles to one (LLVM turns a select of a load into a jump).
        x -= tree[2 * j * right]
        j = 2 * j + right
    return j - leaves


@kernel(inline="always")
def _alias_draw(rs, alias_p, alias_i, nsizes):
    """Walker's alias method: size s w.p. alloc_rate[s] / A in O(1)."""
    x = uniform(rs) * nsizes
    s = min(np.int64(x), nsizes - 1)
    return alias_i[s] if x - s >= alias_p[s] else s


@kernel
def profile(rs, st, ip, fp, fstack, sizes, alias_p, alias_i, drate, tree, live_n, pool_off,
            pool_cap, arena, out, i, n):
    """A size profile's birth-death process: allocations of size s at rate alloc_rate[s],
    deaths at drate[s] per live object; events i..n of the run (see the module's note)."""
    st[ST_STATUS] = OK
    nfree, next_id, now, allocs = st[ST_NFREE], st[ST_NEXT_ID], st[ST_NOW], st[ST_ALLOCS]
    noscan = fp[FP_NOSCAN]
    i0 = i
    leaves = ip[PP_LEAVES]
    arate = fp[PF_ALLOC_RATE]
    clock = fp[PF_CLOCK]
    nsizes = len(sizes)
    while i < n:
        if next_id >= len(fstack):
            st[ST_STATUS] = GROW_IDS
            break
        r0, r1, r2, r3 = rs[0], rs[1], rs[2], rs[3]  # restored if the arena must grow
        drate_total = tree[1]
        total = arate + drate_total
        u = uniform(rs) * total
        # Next event after an Exp(total) wait, as in the continuous-time process.
        dt = exp1(rs) * fp[PF_UNIT_NS] / total
        p = below(rs, ip[IP_PROCS])
        if u < arate:
            s = _alias_draw(rs, alias_p, alias_i, nsizes)
            m = live_n[s]
            if m == pool_cap[s]:  # move the pool to a region twice as large
                cap = pool_cap[s]
                top = st[PR_ARENA_TOP]
                if top + 2 * cap > len(arena):
                    rs[0], rs[1], rs[2], rs[3] = r0, r1, r2, r3
                    st[ST_STATUS] = GROW_ARENA
                    break
                off = pool_off[s]
                for j in range(m):
                    arena[top + j] = arena[off + j]
                pool_off[s] = top
                pool_cap[s] = 2 * cap
                st[PR_ARENA_TOP] = top + 2 * cap
            oid, nfree, next_id = _new_id(fstack, nfree, next_id)
            arena[pool_off[s] + m] = oid
            live_n[s] = m + 1
            _tree_set(tree, leaves, s, (m + 1) * drate[s])
            kind = ALLOC
            size = sizes[s]
        else:
            s = _tree_find(tree, leaves, u - arate)
            m = live_n[s] if s < nsizes else 0
            if m == 0:  # rounding put x past the last live size: draw again
                continue
            j = below(rs, m)
            off = pool_off[s]
            oid = arena[off + j]
            arena[off + j] = arena[off + m - 1]
            live_n[s] = m - 1
            _tree_set(tree, leaves, s, (m - 1) * drate[s])
            nfree = _free_id(fstack, nfree, oid)
            kind = FREE
            size = 0
        clock += dt
        now = np.int64(clock)
        flags = NOSCAN if kind == ALLOC and uniform(rs) < noscan else 0  # last draw of a step
        allocs += _put(out, i, kind, now, p, oid, size, flags)
        i += 1
    fp[PF_CLOCK] = clock
    _save(st, nfree, next_id, now, allocs, i - i0)
    return i
