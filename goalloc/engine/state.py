"""Engine state: every runtime structure the model keeps (mspan records and bitmaps, per-P
mcache and page cache, mcentral span sets, the page allocator's chunk bitmaps and summaries,
GC and pacer scalars), laid out as a few dense numpy arrays: this module names their rows,
columns and slots; engine/arrays.py allocates them and bundles them in one numba structref.
Models the Go 1.19-1.26 runtime (malloc.go, mheap.go, mcache.go, mcentral.go, mpagealloc.go).

Field indexes are module constants, frozen into the cached kernels; the flat scalar arrays'
slots are numbered by `_Slots` in the order named (no number by hand).
"""

from __future__ import annotations

# ---- runtime constants (runtime/malloc.go, mheap.go, mpagealloc.go, mgcsweep.go) -----------
PAGE_SIZE = 8192
PAGE_SHIFT = 13
CHUNK_PAGES = 512  # pallocChunkPages: 4 MiB
CHUNK_WORDS = CHUNK_PAGES // 64
ARENA_PAGES = 8192  # heapArenaBytes 64 MiB
PCACHE_PAGES = 64  # per-P page cache window
PCACHE_MAX_NPAGES = 16  # page cache used for npages < 16
SPAN_BUDGET = 100  # cacheSpan's sweep budget
MAX_OBJS = 1024
SPAN_WORDS = MAX_OBJS // 64  # uint64 words of a span's alloc/mark/live bitmaps
HEAP_MINIMUM = 4 << 20  # defaultHeapMinimum
SWEEP_MIN_HEAP_DISTANCE = 1 << 20
NUM_SPC = 136  # span classes, class << 1 | noscan; sized by the table at run time
INF = (1 << 62)
MARK_SPEEDS = 64  # recorded marks' speeds a replay draws from at most (Config.mark_speeds)

# ---- the flat arrays' slots ---------------------------------------------------------------------
# prm, sc and fs hold scalars of many runtime structures. No slot number is written by hand: each
# name takes the next slot of its array (or `width` of them) in the order named below, grouped
# under the structure (and module) that owns it, so two names cannot share a slot and each
# array is as long as what was named. The values are plain ints at import: numba freezes them
# into the kernels as constants.


class _Slots:
    def __init__(self):
        self.n = 0

    def __call__(self, width: int = 1) -> int:
        at = self.n
        self.n += width
        return at


_prm, _sc, _fs = _Slots(), _Slots(), _Slots()

# ---- parameters (prm) --------------------------------------------------------------------------
P_SMALL_MAX = _prm()
P_TINY_SIZE = _prm()
P_MALLOC_HEADER = _prm()
P_HEADER_SIZE = _prm()
P_HEADER_THRESHOLD = _prm()
P_GOGC = _prm()  # -1 = off
P_MEMLIMIT = _prm()  # -1 = none
P_NPROCS = _prm()
P_RECORDED = _prm()  # 1 = GC cycles from the trace's markers
P_SWEEP_FREES = _prm()  # 1 = header frees == "sweep"
P_GOVERSION = _prm()  # 119, 122, 126
P_CONS_MARK_PPM = _prm()  # cons_mark * 1e6
P_STACK = _prm()
P_GLOBALS = _prm()
P_NUM_CLASSES = _prm()
P_TINY_SPC = _prm()
P_MARK_NS_PER_MB = _prm()  # mark cost: ns of trace time per MiB of scan work at 25% of GOMAXPROCS
P_BGSWEEP_NS = _prm()  # background sweeper: ns of trace time per span swept
P_PERIODIC_NS = _prm()  # forcegcperiod (2 min)
P_SAMPLE_EVERY = _prm()  # timeline: a sample every this many events
P_FIXED_CONS_MARK = _prm()  # 1: consMark = P_CONS_MARK_PPM, never measured
P_SWEEP_PACED = _prm()  # 1: the background sweeper follows the trace's sweep frees (sweep.paced)
P_MARK_TERM_AT_END = _prm()  # 1: a recorded mark termination takes effect at its gc_end row
P_FAST_PATHS = _prm()  # 0: every event takes the general path (the fast-path guard test, #13)
P_NONHEAP_FIXED = _prm()  # non-heap memory present from start-up (engine/mstats.py)
P_HEAP_PAD_PAGES = _prm()  # [1.26+] randomized heap base: padding pages the first grow marks
#                        allocated and scavenged (pagealloc.grow)
# scavenger (#20): the cost model of releasing memory (benchmarks/bench_madvise.py)
P_SCAV_PAGE_PS = _prm()  # madvise cost per 4 KiB physical page, in ps (0 with the call cost too:
#                      the runtime's own fallback of 10 us per physical page)
P_SCAV_CALL_PS = _prm()  # ... per madvise call (one per contiguous run released), in ps
P_NO_PCACHE = _prm()  # 1: no per-P page cache (every span allocation takes the heap lock)
P_PACKED_SPAN_SCAN = _prm()  # 1: Green Tea's packed span scan counts marked slots whole as
#                            scan work (mark.heap_scan_work), heapScan pointer prefixes (mbitmap)
P_MARK_SPEED_SEED = _prm()  # Config.mark_speed_seed: 0 every mark at the measured rate, else
# each at one of the recorded marks' speeds (F_MARK_SPEEDS), drawn by mark.draw_speed
P_MARK_SPEEDS = _prm()  # how many of F_MARK_SPEEDS hold a recorded mark's speed
P_SCHED_WAIT_NS = _prm()  # pacer mode without a dedicated mark worker: ns from the background
# workers' finishing a mark's work to its end (mark.sched_wait_ns; 0: no wait)
# the mutators' share of the CPU while marking (mark.mutator_clock, pacer mode; 0: not modelled)
P_REC_MARK_TAKES_PPM = _prm()  # the share of the Ps the recording's marks took from its
# mutators (background workers + assists, RecordedMarkCpu), ppm
P_MARK_STRETCH_PPM = _prm()  # while the model marks, its clock runs this much slower (ppm of
# mutator time): its workers take the recording's worker share b of the Ps, b / (1 - b)
P_PARK_RATE_PPM = _prm()  # while assists park, each P beyond the workers' share scans at this
# share of the measured rate (ppm; 0: all of it): that rate holds the recording's assists' and
# idle workers' work in the workers' 25% (mark.park)
# pacer mode, a Go recording's mutator sweep figures (sweep.mutator_stall; 0: sweeping takes no
# time): the recording's mutators' sweep time per page swept (ps), that time as a share of the
# trace's span (ppm of one CPU's), and the Ps its mutators kept busy (ppm, at least one P)
P_SWEEP_PS_PER_PAGE = _prm()
P_REC_SWEEP_PPM = _prm()
P_BUSY_PS_PPM = _prm()
N_PRM = _prm.n

# ---- scalars (sc) ------------------------------------------------------------------------------
S_SG = _sc()  # mheap_.sweepgen
S_PHASE = _sc()  # 0 off (sweeping), 1 mark
S_HEAP_LIVE = _sc()  # gcController.heapLive
S_HEAP_MARKED = _sc()
S_MARKED_NOW = _sc()  # bytes marked in the current cycle (live at mark start + allocate-black)
S_LAST_HEAP_SCAN = _sc()  # lastHeapScan: the last cycle's heap scan work (S_CYCLE_HEAP_SCAN)
S_GOAL_GOGC = _sc()  # GOGC heap goal set at commit (INF when off)
S_SWEEP_DIST_MIN = _sc()  # sweepDistMinTrigger
S_RUNWAY = _sc()
S_CYCLES = _sc()
S_CYCLE_GOAL = _sc()  # goal when the current cycle started
S_TRIGGERED = _sc()  # heapLive at the current cycle's start, -1 outside a cycle
S_PAGES_INUSE = _sc()
S_PAGES_FREE = _sc()
S_PAGES_RELEASED = _sc()
S_MAPPED_CHUNKS = _sc()  # chunks grown (mapped) so far, from address 0
S_RESERVED_PAGES = _sc()  # arena reservations (64 MiB steps)
S_HINT_CHUNK = _sc()  # every chunk below is fully allocated
S_SPAN_HW = _sc()  # span records ever used (high water)
S_SPAN_FREE = _sc()  # free span record list head (-1 none)
S_SPAN_NFREE = _sc()
S_TB_HW = _sc()
S_TB_FREE = _sc()
S_TB_NFREE = _sc()
S_OBJ_BYTES = _sc()  # allocated slot bytes (HeapAlloc, /memory/classes/heap/objects)
S_LIVE_SLOT_BYTES = _sc()  # slot bytes of objects not dead
S_REQ_LIVE = _sc()  # requested bytes of objects not dead (L)
S_TAIL_BYTES = _sc()  # in-use span bytes no slot can use (tail + in-span reserves)
S_MALLOCS = _sc()  # objects allocated incl. tiny sub-objects
S_FREES = _sc()  # slots freed by sweep
S_TINY_ALLOCS = _sc()  # tiny sub-objects placed in an existing block
S_ALLOC_BYTES = _sc()  # slot bytes allocated (cumulative)
S_DEATHS = _sc()  # objects the trace freed
S_SPANS_INUSE = _sc()
S_GROWS = _sc()
S_STATUS_NEED = _sc()  # what the kernel needs grown
S_PEAK_H = _sc()  # J&W: held bytes (in use + free pages) ...
S_PEAK_H_L = _sc()  # ... and L at that point
S_PEAK_L = _sc()
S_PEAK_L_H = _sc()
# peak snapshot (taken at max held): objects, unused, free, released, rounding, tail, free slots,
# dead unswept, in-use pages
S_PK_OBJ = _sc()
S_PK_UNUSED = _sc()
S_PK_FREE = _sc()
S_PK_RELEASED = _sc()
S_PK_ROUND = _sc()
S_PK_TAIL = _sc()
S_PK_FREESLOT = _sc()
S_PK_DEAD = _sc()
S_PK_INUSE = _sc()
S_PK_EVENT = _sc()
S_EVENT = _sc()  # global index of the event being replayed
S_TS = _sc()
S_SPANS_SWEPT = _sc()
S_LARGE_ALLOCS = _sc()
S_INIT = _sc()  # pacer initialised (first commit done)
S_NOW = _sc()  # model clock: the largest ts seen so far
S_NEXT_TIMED = _sc()  # model time at which timed() has work (bg sweep/scavenge, mark end, periodic)
S_UNSWEPT = _sc()  # spans in mcentral unswept sets (0: sweeping done)
S_SWEEP_CLASS = _sc()  # sweep.centralIndex
S_PAGES_SWEPT = _sc()  # mheap_.pagesSwept (this cycle)
S_PROP_ON = _sc()  # proportional sweep active (sweepPagesPerByte != 0)
S_PROP_DIST_PAGES = _sc()  # sweepPagesPerByte = S_PROP_DIST_PAGES / S_PROP_HEAP_DIST
S_PROP_HEAP_DIST = _sc()
S_SWEEP_LIVE_BASIS = _sc()
S_PAGES_SWEPT_BASIS = _sc()
S_RECLAIM_INDEX = _sc()  # page; INF: reclaim done
S_RECLAIM_CREDIT = _sc()
S_BGSWEEP_T = _sc()  # trace time the background sweeper has used up to
S_SCAV_GOAL_GC = _sc()  # scavenge.gcPercentGoal (INF: none)
S_SCAV_GOAL_LIM = _sc()  # scavenge.memoryLimitGoal (INF: none)
S_SCAV_ACTIVE = _sc()  # background scavenger awake
S_SCAV_T = _sc()  # trace time the background scavenger has used up to
S_SCAV_BG_CUR = _sc()  # highest chunk the background scavenger searches (-1 none)
S_SCAV_FORCE_CUR = _sc()  # ... forced (memory-limit) scavenging searches
S_SCAV_HWM = _sc()  # highest chunk freed into since the last generation (-1 none)
S_LAST_HEAP_INUSE = _sc()  # memstats.lastHeapInUse
S_LAST_HEAP_GOAL = _sc()  # gcController.lastHeapGoal
S_RELEASED_BG = _sc()  # pages released by the background scavenger (cumulative)
S_RELEASED_EAGER = _sc()  # pages released synchronously (heap growth, memory limit)
S_MARK_END_TS = _sc()  # pacer mode: trace time when the scan work is done
S_MARK_START_TS = _sc()
S_SCAN_WORK = _sc()  # this cycle's scan work (pointerful marked bytes + stacks + globals)
S_LAST_GC_TS = _sc()  # trace time of the last mark termination (0: none yet)
S_NEXT_SAMPLE = _sc()  # next event index to sample the timeline at
S_TL_N = _sc()  # timeline samples written
S_PEAK_ID = _sc()  # bumps at every new held-memory peak (per-class copy-on-write snapshots)
S_SWEPT_BG = _sc()  # spans swept by the background sweeper
S_SWEPT_PROP = _sc()  # ... by proportional sweep
S_SWEPT_RECLAIM = _sc()  # ... by mheap.reclaim
S_MUTATOR_SWEPT_PAGES = _sc()  # pages swept by the mutators (all but the background sweeper)
S_BG_SWEEPING = _sc()  # 1 while the background sweeper sweeps (its pages are not the mutators')
S_SWEEP_STALL = _sc()  # ns the mutators' sweeping added to the model's clock (part of S_STALL)
S_SWEEP_TRACE_T = _sc()  # the trace time sweep.mutator_stall last reckoned at
S_PERIODIC = _sc()  # periodic (2 min) cycles started
S_SWEEP_DONE_TS = _sc()
S_MARK_BY_GOAL = _sc()  # 1: this cycle's mark ended because heapLive reached the goal (assists)
S_SCAV_READY = _sc()  # sweeping finished since the scavenger last parked (scavenger.ready)
S_FREE_BYTES = _sc()  # slot bytes freed by sweeping (cumulative, /gc/heap/frees:bytes)
S_REC_FREES = _sc()  # sweep.paced: frees the trace reported since the last mark termination
S_REC_SETTLED = _sc()  # ... of them, those reported before the last event that was not a free
S_FREES_BASE = _sc()  # S_FREES at the last mark termination
S_REC_FREE_BYTES = _sc()  # sweep.paced: the slot bytes of S_REC_FREES' objects
S_REC_SETTLED_BYTES = _sc()  # ... and of S_REC_SETTLED's
S_FREE_BYTES_BASE = _sc()  # S_FREE_BYTES at the last mark termination
S_MARK_TERM_PENDING = _sc()  # P_MARK_TERM_AT_END: 1 + the late-flush mask of a gc_mark_term
S_MARK_TERM_PENDING_TS = _sc()  # ... and its time (the mark's end: the cycle's end time)
S_DEATH_NEXT = _sc()  # the next of this chunk's look-ahead deaths to apply (engine/snapshot.py)
# concurrent mark progress and the GC CPU limiter (engine/mark.py, engine/limiter.py, #15)
S_MARK_T = _sc()  # trace time the background mark workers' progress is counted up to
S_ASSIST_LIVE = _sc()  # heapLive when assists were last charged
S_LIM_ENABLED = _sc()  # gcCPULimiter.enabled
S_LIM_GC_ON = _sc()  # gcCPULimiter.gcEnabled (mark phase)
S_LIM_LAST = _sc()  # gcCPULimiter.lastUpdate (trace time)
S_LIM_LAST_ENABLED_CYCLE = _sc()  # gcCPULimiter.lastEnabledCycle (0: never)
S_TS0 = _sc()  # trace time of the first event (GC CPU fractions count from it)
S_STALL = _sc()  # ns the model's clock runs ahead of the trace's: mutators parked in assists
# mark.mutator_clock (pacer mode): the trace's clock (its largest ts), whether the recording was
# marking there, the trace ns inside its marks, the mutator time (the trace's less the share
# its marks took) and the mutator ns while the model marked (mark.clock_skew derives the model
# clock's skew from the last two totals)
S_TRACE_T = _sc()
S_REC_MARKING = _sc()
S_REC_MARK_NS = _sc()
S_MUTATOR_T = _sc()
S_MARK_MUTATOR_NS = _sc()
# the recorded mark in effect (the last whose gc_start the replay passed, before any the
# first): its assists' and idle workers' CPU over GOMAXPROCS while marking, ppm (a recording's
# figures, trace/importers/gomark.py; the model's marks run its workers at 25%), which
# endCycle's cons/mark takes (gc._end_cycle; the pooled shares without per-mark rows), and
# the next row of EngineArrays "rmk" (mark.recorded_mark_began)
S_REC_ASSIST_PPM = _sc()
S_REC_IDLE_PPM = _sc()
S_REC_MARK_ROW = _sc()
S_STACK_INUSE = _sc()  # goroutine stack bytes the trace's stack events say are in use
S_STACK_EVENTS = _sc()  # stack events seen (0: the trace has none, mstats uses a fixed amount)
# scavenger (#20): the background scavenger's burst and sleep (engine/scavenge.py), and the
# metric samples the trace carries (kernel: one timeline sample per sample group)
S_SCAV_WORKED = _sc()  # working: ns worked in this burst; sleeping: the controller's `worked`
S_SCAV_BURST_REL = _sc()  # bytes released in this burst
S_SCAV_SLEEP_FROM = _sc()  # when the current sleep began
S_SCAV_COOLDOWN = _sc()  # controllerCooldown (ns)
S_SCAV_BG_NS = _sc()  # scavenge.backgroundTime: ns of background scavenging work (cumulative)
S_SCAV_BURSTS = _sc()  # bursts that released memory
S_SCAV_RESETS = _sc()  # controller resets (controllerFailed)
S_SCAV_RUN = _sc()  # recorded runs (EngineArrays "scr"): the next run not started
S_SCAV_SHARE = _sc()  # ... pages the recorded run under way releases (-1: the cost model times it)
S_SCAV_EAGER_NS = _sc()  # scavenge.assistTime: ns of allocSpan's synchronous scavenging
S_METRIC_GROUP = _sc()  # id of the last metric-sample group the kernel sampled at (-1 none)
S_METRIC_HEAP = _sc()  # ... the heap classes' sum of that group so far
S_NONHEAP_READY = _sc()  # mapped memory outside the heap at the last sample (total - heap
#                        classes: stacks, metadata, other), -1 before any (mstats.nonheap)
S_NONHEAP_SCAN = _sc()  # lastStackScan + globalsScan the GOGC goal and the runway add to the
#                       heap (Config's stand-ins, or the recording's own: pacer.nonheap_scan)
# revise (engine/mark.py): heapScan, the scannable heap (fixed at mark start: lastHeapScan plus
# pointerful allocation since the last mark termination), and this cycle's heap scan work
# (pointerful bytes live at mark start: what the workers scan; lastHeapScan after the cycle)
S_HEAP_SCAN = _sc()
S_CYCLE_HEAP_SCAN = _sc()
S_ALLOC_SCAN = _sc()  # the allocation being replayed: bytes heapScan grows by (its pointer
#                     prefix, engine/mbitmap.py), -1: its slot's size (the kernel sets it)
S_PAGES_MANUAL = _sc()  # pages of manual spans (stacks, GC work buffers: mheap.allocManual),
#                       taken from the page heap but outside heapInUse (engine/mheap.py)
# GC metadata the runtime allocates off-heap and never frees (/memory/classes/metadata/other,
# engine/mstats.py): mcentral span-set blocks in use, their high water (the pool's size) and
# the sets that have a spine (spanset.py); gcBits arenas on the next/current/previous lists,
# the bytes taken in the head `next` arena, and their high water (gcbits.py)
S_SSB_INUSE = _sc()
S_SSB_HW = _sc()
S_SS_SPINES = _sc()
S_GCB_NEXT = _sc()
S_GCB_CUR = _sc()
S_GCB_PREV = _sc()
S_GCB_HEAD_USED = _sc()
S_GCB_HW = _sc()
# the heap lock and its log (engine/locks.py): the P of the event being replayed (-1: background
# sweeper/scavenger), rows in the lk log, acquisitions not logged (log full mid-event; counts
# stay exact), 0 or 1 + the clock of the background worker doing the work, span allocations
# served by a page cache and in all (mheap.alloc), acquisitions per lock op
N_LK_OPS = 7  # locks.py LK_* (its OP_NAMES)
S_CUR_P = _sc()
S_LK_N = _sc()
S_LK_LOST = _sc()
S_LK_TS = _sc()
S_SPANS_PCACHE = _sc()
S_SPAN_ALLOCS = _sc()
S_LK_CNT0 = _sc(N_LK_OPS)  # S_LK_CNT0 + op
S_MARK_WAIT = _sc()  # pacer mode: the scheduler-pass wait in this mark's planned end (mark._plan_end)
# pacer.recorded_heap_live: its state (pacer.REC_LIVE_*), the last reading, and the bytes of the
# runtime's heapLive the model did not see before the first GC
S_REC_LIVE_STATE = _sc()
S_REC_LIVE_PREV = _sc()
S_PRE_TRACE_LIVE = _sc()
N_SC = _sc.n

# ---- float scalars (fs) ------------------------------------------------------------------------
F_CONS_MARK = _fs()
F_LAST_CM = _fs(4)  # 1..4: lastConsMark[4] [1.22+]
F_PI_INTEGRAL = _fs()  # 1.19 consMark PI controller errIntegral
# concurrent mark (engine/mark.py): scan work done this cycle, the background workers' credit
# (bgScanCredit, scan work), assistWorkPerByte, and the mutators' assist credit in bytes
# (every goroutine's gcAssistBytes pooled)
F_MARK_DONE = _fs()
F_ASSIST_CREDIT = _fs()
F_ASSIST_RATIO = _fs()
F_ASSIST_BYTES = _fs()
# GC CPU time, cumulative ns of CPU (one P busy for 1 ns = 1): mark assists, background workers
F_BG_NS = _fs()
F_MARK_SPEED = _fs()  # the current mark's speed over the measured rate (1.0 but when drawn)
F_MARK_SPEEDS = _fs(MARK_SPEEDS)  # the recorded marks' speeds over their pooled rate
F_PARK_NS = _fs()  # trace-time ns mutators spent parked in assists (engine/mark.py park)
# the GC CPU limiter (engine/limiter.py): bucket fill and capacity, assist time not yet counted,
# overflow, and the trace time it spent enabled
F_LIM_FILL = _fs()
F_LIM_CAP = _fs()
F_LIM_IDLE_POOL = _fs()  # idle P time (parked mutators) not yet counted: not in the window's total
F_LIM_OVERFLOW = _fs()
F_LIM_ENABLED_NS = _fs()
# scavenger (#20): its sleep controller (scavengerState.sleepRatio, sleepController)
F_SCAV_SLEEP_RATIO = _fs()  # 0 until the scavenger first runs (then startingScavSleepRatio)
F_SCAV_ERR_INTEGRAL = _fs()
N_FS = _fs.n

# ---- span records (sp) -------------------------------------------------------------------------
SP_BASE = 0  # first page
SP_NPAGES = 1
SP_SPC = 2  # span class
SP_ELEMSIZE = 3
SP_NELEMS = 4
SP_FREEINDEX = 5
SP_ALLOCCOUNT = 6
SP_SWEEPGEN = 7
SP_INUSE = 8  # 1 in use, 0 free record
SP_NEXT = 9  # span set (FIFO) link or free-record link
SP_WHERE = 10  # -1 nowhere, >= 0 mcentral set id, <= -2: cached by P (-2 - p)
SP_REQ = 11  # large spans: requested size of the object
SP_PREV = 12  # span set back link (O(1) removal by mheap.reclaim)
SP_LIVE = 13  # slots holding an object that is not dead (slot utilisation)
SP_ALLOC_BEFORE_CACHE = 14  # allocCountBeforeCache: allocCount when an mcache last cached it
N_SP = 15
WHERE_NONE = -1

# ---- object records (ob), by dense trace id ----------------------------------------------------
OB_SPAN = 0  # -1 not live; -2 live zero-size object (zerobase)
OB_SLOT = 1  # once dead (OB_SPAN -1): the span it died in (sweep.follow)
OB_SIZE = 2  # requested size
OB_TB = 3  # tiny block record, -1 if not tiny
N_OB = 4

# ---- tiny block records (tb) -------------------------------------------------------------------
TB_CNT = 0  # sub-objects not dead
TB_SPAN = 1
TB_SLOT = 2
TB_OWNER = 3  # P whose current tiny block this is, -1 none
TB_NEXT = 4  # free-record link
N_TB = 5

# ---- per-P state (pp) --------------------------------------------------------------------------
PP_TINY = 0  # current tiny block record, -1 none
PP_TINY_OFF = 1  # mcache.tinyoffset
PP_PC_BASE = 2  # page cache window base page, -1 none
PP_MSPANC = 3  # mspancache.len: free mspan structs cached by the P (issue #6, engine/locks.py)
PP_FLUSH_PENDING = 4  # 1: the last mark termination left this P's mcache stale (gc.mark_term)
PP_LAST_FREE_SPAN = 5  # sweep.follow: the model span of the last free reported on this P, -1
PP_FREES_IN_SPAN = 6  # sweep.follow_swept: frees reported on this P in a row into that span
N_PP = 7

# ---- per span class stats (cs) -----------------------------------------------------------------
CS_SPANS = 0  # in-use spans
CS_PAGES = 1  # in-use pages
CS_ALLOC_SLOTS = 2  # allocated slots (incl. dead unswept)
CS_LIVE_SLOTS = 3  # slots holding an object that is not dead
CS_REQ_LIVE = 4  # requested bytes of live objects
CS_MALLOCS = 5
CS_TAIL = 6  # bytes of in-use spans no slot can use
CS_LIVE_SLOT_BYTES = 7  # large classes: slot bytes of live objects
CS_ALLOC_BYTES = 8  # slot bytes allocated (incl. dead unswept)
CS_H0 = 9  # CS_H0 + b: in-use spans whose live/nelems is in [b/10, (b+1)/10) (b = 9 incl. 1)
N_HIST = 10
# mcentral span-set operations per span class (lock-free in the runtime; issue #6 counts them):
# push partial, push full, pop partial, pop full (pops include mheap.reclaim's unlink)
CS_SS0 = CS_H0 + N_HIST
N_SS = 4
CS_SCAN_ALLOCATED = CS_SS0 + N_SS  # bytes heapScan grew by for this class's allocations, all
#                                 time (pointer prefixes; gc.mark_start's sparse spans)
N_CS = CS_SCAN_ALLOCATED + 1

# ---- mcentral span sets ------------------------------------------------------------------------
# set id = spc*4 + kind, kind: 0/1 partial[idx], 2/3 full[idx]; idx = sweepgen/2 % 2 is swept.
LH_HEAD = 0
LH_TAIL = 1
LH_LEN = 2
# mspanset.go's index since the set's last reset (push: tail, pop: head; a 512-entry block is
# taken at each new tail block and given back when all its entries were popped) and whether
# the set has its spine yet (allocated at the first push, kept for good)
LH_PUSHED = 3
LH_POPPED = 4
LH_SPINE = 5
N_LH = 6

# ---- GC cycle records (cyc) --------------------------------------------------------------------
CY_START_EVENT = 0
CY_START_TS = 1
CY_HEAP_AT_TRIGGER = 2  # heapLive at mark start
CY_TRIGGER = 3  # trigger the pacer computed (-1 for recorded cycles)
CY_GOAL = 4
CY_MARKED = 5
CY_HEAP_AT_END = 6  # heapLive at mark termination
CY_END_EVENT = 7
CY_END_TS = 8
CY_LIMIT_BOUND = 9
CY_INUSE_AT_END = 10  # heap in-use bytes at mark termination
CY_KIND = 11  # CYK_*
CY_SCAN_WORK = 12
CY_CONS_MARK_PPM = 13  # consMark after this cycle's endCycle (x 1e6)
CY_BY_GOAL = 14  # 1: mark ended at an allocation whose parked assist waited for the work
CY_BG_NS = 15  # background mark worker CPU ns (25% of GOMAXPROCS over the mark)
CY_LIMITED = 16  # 1: the GC CPU limiter was enabled at some point of this mark
CY_STALL_AT_START = 17  # S_STALL at mark start: start ts less it is the trace's own time
CY_GOAL_AT_END = 18  # heapGoal() at endCycle (lastHeapGoal: gctrace's "MB goal")
CY_SCHED_WAIT = 19  # ns the mark's end waited for a P's scheduler pass (mark.past_max_work)
CY_SKEW_AT_START = 20  # mark.clock_skew at mark start: start ts less it and the stall is the trace's time
CY_PAST_MAX_WORK = 21  # 1: at mark termination the scan work had passed maxScanWork (mark.past_max_work)
N_CY = 22
CYK_HEAP = 0
CYK_PERIODIC = 1
CYK_FORCED = 2
CYK_RECORDED = 3

# ---- timeline samples (tl) ---------------------------------------------------------------------
TL_KIND = 0  # TLK_*
TL_TS = 1
TL_EVENT = 2
TL_OBJ = 3
TL_UNUSED = 4
TL_FREE = 5
TL_RELEASED = 6
TL_HEAP_LIVE = 7
TL_REQ_LIVE = 8
N_TL = 9
TLK_SAMPLE = 0
TLK_MARK_START = 1
TLK_MARK_TERM = 2
TLK_END = 3
TLK_METRIC = 4  # at a metric sample the trace recorded (format METRIC; issue #20)

# ---- per chunk (ck) ----------------------------------------------------------------------------
CK_LAST_INUSE = 0  # allocated pages at the last scavenger generation (end of last mark)
N_CK = 1

# ---- kernel status -----------------------------------------------------------------------------
NEED_NONE = 0
NEED_SPANS = 1
NEED_CHUNKS = 2
NEED_TB = 3
NEED_CYC = 4
NEED_OBJS = 5
NEED_TL = 6
NEED_LK = 7  # heap-lock log (engine/locks.py): the driver drains it, growing it if still short
NEED_STACKS = 8  # stack size by dense stack id (grown by the driver before a chunk)
NEED_MSPANS = 9  # manual spans by span id (grown by the driver before a chunk)
