"""A pacer-mode replay of a Go trace passes over it several times (planning, the scan-rate
pass, the replay, the death-time range). The planning pass's chunks are kept for the later
passes (#14), as the file stores them: the trace is read from its file once (each later pass
decodes the kept chunks again), and the result is the one the streaming passes give (the
fallback when the chunks do not fit)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

import goalloc.trace
from goalloc.engine import passes
from goalloc.engine import replay as replay_mod
from goalloc.engine.config import DEFAULT_SCAN_RATE, Config
from goalloc.report.replay import to_json
from goalloc.trace import format as fmt
from goalloc.trace.reader import StoredChunk, TraceReader

TRACE = Path(__file__).resolve().parent.parent / "traces" / "go-parser.msgpack"


def _replay_counting_decodes(monkeypatch, fresh: bool = True) -> tuple[str, int]:
    """The JSON of a default replay and how many chunks it decoded; `fresh`: with no scan rate
    measured earlier in this process (replay.measured_scan_rate keeps them per file)."""
    if fresh:
        monkeypatch.setattr(replay_mod, "_SCAN_RATES", {})
    real = TraceReader._decode_chunk
    decoded = _count_decodes(monkeypatch)
    cfg = Config()
    text = to_json(replay_mod.replay(TRACE, cfg, death_range=True), TRACE, cfg)
    monkeypatch.setattr(TraceReader, "_decode_chunk", real)
    return text, len(decoded)


def test_kept_chunks_give_the_streamed_result_and_read_once(monkeypatch):
    kept, kept_decodes = _replay_counting_decodes(monkeypatch)
    monkeypatch.setattr(passes, "KEEP_CHUNKS_BYTES", 0)  # nothing fits: every pass reads
    streamed, streamed_decodes = _replay_counting_decodes(monkeypatch)
    assert kept == streamed
    with goalloc.trace.open(TRACE) as r:
        chunks = sum(1 for _ in r)
    # planning + scan-rate pass + replay + two death-time bounds: five reads of the file when
    # streamed, one (the planning pass) when kept
    assert kept_decodes == chunks
    assert streamed_decodes == 5 * chunks
    # the same trace again in this process: its scan rate is known, four passes
    again, again_decodes = _replay_counting_decodes(monkeypatch, fresh=False)
    assert again == streamed
    assert again_decodes == 4 * chunks


def test_kept_chunks_are_stored_and_decode_to_what_was_read():
    """The planning pass keeps each chunk as the file stores it (zstd-shuffle: a fraction of
    its decoded columns), and decoding one gives the columns the reader gave, column by
    column, with the chunk's place in the trace."""
    with goalloc.trace.open(TRACE) as r:
        header = r.header
        read = list(r)
    p = passes.Passes(TRACE)
    p.get(header, "mid")
    assert len(p.kept) == len(read) > 1
    assert all(isinstance(k, StoredChunk) for k in p.kept)
    decoded_bytes = 0
    for k, ch in zip(p.kept, read, strict=True):
        got = k.decode()
        assert (got.n, got.start, got.offset) == (ch.n, ch.start, ch.offset)
        for name in fmt.COLUMNS:
            assert np.array_equal(getattr(got, name), getattr(ch, name)), name
            decoded_bytes += getattr(ch, name).nbytes
    assert p.kept_bytes * 5 < decoded_bytes


def test_passes_leave_the_shared_plan_as_planned(monkeypatch):
    """Every pass replays a shallow copy of one plan (Plan.replay_copy), sharing its arrays,
    the death-time bounds from their own threads: no pass may write into them. The plan's
    arrays after a pacer replay with the death range (planning, scan-rate pass, replay, two
    bounds) equal a deep copy taken when it was made."""
    made = {}
    real_get = passes.Passes.get

    def get(self, header, death_time, tail=False):
        first = not self.made
        out = real_get(self, header, death_time, tail)
        if first and self.plan is not None and "plan" not in made:
            made["plan"] = self.plan
            made["snapshot"] = copy.deepcopy(self.plan)
        return out

    monkeypatch.setattr(passes.Passes, "get", get)
    monkeypatch.setattr(replay_mod, "_SCAN_RATES", {})
    r = replay_mod.replay(TRACE, Config(), death_range=True)
    assert r.death_range  # the bounds ran
    plan, before = made["plan"], made["snapshot"]
    arrays = [k for k, v in vars(before).items() if isinstance(v, np.ndarray)]
    assert "death_at" in arrays and plan.death_at.shape[0] > 0
    for k in arrays:
        assert np.array_equal(getattr(plan, k), getattr(before, k)), k


def test_scan_rate_pass_stops_at_the_last_mark_termination(monkeypatch):
    """The scan-rate pass replays up to the trace's last recorded mark termination (the events
    after it end no recorded cycle): the rate is the one a whole recorded-mode replay's cycles
    give. go-json-decoder has half its events after its last GC."""
    trace = TRACE.with_name("go-json-decoder.msgpack")
    monkeypatch.setattr(replay_mod, "_SCAN_RATES", {})
    cfg = Config(gc_mode="pacer")
    plans = passes.Passes(trace)
    stops = []
    real = replay_mod._replay

    def replay_noting_stop(*args, **kw):
        stops.append(kw.get("stop_after"))
        return real(*args, **kw)

    monkeypatch.setattr(replay_mod, "_replay", replay_noting_stop)
    rate = replay_mod.measured_scan_rate(trace, cfg, plans=plans)
    monkeypatch.setattr(replay_mod, "_replay", real)
    with TraceReader(trace) as r:
        last = plans.get(r.header, cfg.death_time).last_mark_term
        total = r.header.events
    assert stops == [last]
    assert 0 < last < total // 2 + total // 10  # the pass stops well before the end
    whole = replay_mod.replay(trace, Config(gc_mode="recorded", scan_rate=DEFAULT_SCAN_RATE),
                              engine_out=(engines := []))
    assert whole.events == total
    assert rate == replay_mod._scan_rate_of(engines[0])[0] is not None


def test_deaths_ordered_ahead_are_the_order_the_replay_would_make(monkeypatch):
    """A pacer replay's timed deaths are put in point order on another thread while the
    scan-rate pass runs (Plan.order_ahead): the replay then takes that order, which is the
    stable sort by each death's point; a rule nobody ordered ahead is sorted when asked."""
    monkeypatch.setattr(replay_mod, "_SCAN_RATES", {})
    plans = passes.Passes(TRACE)
    with TraceReader(TRACE) as r:
        header = r.header
    ahead = plans.get(header, "mid")
    ahead.order_ahead("mid")
    ahead.order_ahead("mid")  # a second request starts nothing more
    later = plans.get(header, "mid")  # another pass's copy shares the order
    later.death_rule = "mid"
    point, lo, ids = later._by_point()
    mid, want_lo, want_id = later.death_mid, later.death_lo, later.death_id
    order = sorted(range(mid.shape[0]), key=lambda i: (mid[i], i))  # stable, by hand
    assert mid.shape[0] > 1000
    assert np.array_equal(point, mid[order])
    assert np.array_equal(lo, want_lo[order]) and np.array_equal(ids, want_id[order])
    assert not np.array_equal(ids, want_id)  # the order moved something
    early = plans.get(header, "early")
    early.death_rule = "early"
    p_early, _, id_early = early._by_point()
    assert (p_early == np.iinfo(np.int64).min).all() and np.array_equal(id_early, want_id)


def test_death_columns_grow_keeping_what_was_written():
    """The planning pass's death columns (lookahead._Deaths): sized for the header's count, or
    small and doubled when there is none; what was written survives every growth."""
    from goalloc.engine import lookahead

    for events in (None, 3, 1 << 17):
        d = lookahead._Deaths(events)
        written = 0
        for k in (5, lookahead.SMALL_DEATHS, 3 * lookahead.SMALL_DEATHS + 7):
            cols = d.room(k)
            assert len(cols) == lookahead.N_D and all(c.shape == (k,) for c in cols)
            for j, c in enumerate(cols):
                c[:] = np.arange(written, written + k) * 10 + j
            d.n += k
            written += k
        got = d.written()
        assert got.shape == (lookahead.N_D, written)
        for j in range(lookahead.N_D):
            assert np.array_equal(got[j], np.arange(written) * 10 + j)


def _count_decodes(monkeypatch) -> list:
    decoded = []
    real = TraceReader._decode_chunk

    def counting(self, obj, offset, start):
        decoded.append(start)
        return real(self, obj, offset, start)

    monkeypatch.setattr(TraceReader, "_decode_chunk", counting)
    return decoded


def _grid_texts(trace, configs, jobs: int) -> list[str]:
    from goalloc import grid

    specs = [grid.RunSpec(str(trace), cfg) for cfg in configs]
    return grid.run_all(specs, jobs=jobs)


def _single_texts(trace, configs) -> list[str]:
    from goalloc import grid

    return [grid.run_one(grid.RunSpec(str(trace), cfg))[1] for cfg in configs]


def test_grid_runs_share_one_pass_over_an_unplanned_trace(monkeypatch, tmp_path):
    """A grid's runs of one trace share a Passes (grid.shared_passes): a trace that is not
    planned (a synthetic one, frees at free) is decoded once for all of them, and each run's
    JSON is the one its own replay gives, on one thread or two."""
    import goalloc.synth

    trace = tmp_path / "steady.msgpack"
    goalloc.synth.generate("steady", 150_000, trace, procs=2, seed=3, force=True)
    configs = [Config(gogc=g, table=t) for g in (50, 200) for t in ("go", "pow2")]
    singles = _single_texts(trace, configs)
    with goalloc.trace.open(trace) as r:
        chunks = sum(1 for _ in r)
    assert chunks > 1
    decoded = _count_decodes(monkeypatch)
    assert _grid_texts(trace, configs, 1) == singles
    assert len(decoded) == chunks  # the first run reads and keeps, the others take them
    # on two threads a run may start while the first still reads (it then reads its own)
    assert _grid_texts(trace, configs, 2) == singles


def test_grid_runs_share_the_plan_of_a_go_trace(monkeypatch):
    """A recorded Go trace is planned once for the whole grid (the planning pass decodes it;
    the scan-rate passes, replays and death-time bounds of every run use the kept chunks),
    with each run's JSON equal to its own replay's."""
    configs = [Config(gogc=g) for g in (50, 100, 200)]
    monkeypatch.setattr(replay_mod, "_SCAN_RATES", {})
    singles = _single_texts(TRACE, configs)
    with goalloc.trace.open(TRACE) as r:
        chunks = sum(1 for _ in r)
    monkeypatch.setattr(replay_mod, "_SCAN_RATES", {})
    made = []
    real_plan = passes.lookahead.plan

    def counting_plan(*a, **kw):
        made.append(1)
        return real_plan(*a, **kw)

    monkeypatch.setattr(passes.lookahead, "plan", counting_plan)
    decoded = _count_decodes(monkeypatch)
    assert _grid_texts(TRACE, configs, 2) == singles
    assert len(made) == 1
    assert len(decoded) == chunks


def test_shared_passes_over_a_trace_too_large_to_keep_read_it_each_time(monkeypatch, tmp_path):
    """Past KEEP_CHUNKS_BYTES nothing is kept: every run reads the trace, with the same
    results; a pass that stops early (the peak-spans replay's) keeps nothing either, and a
    later whole pass then keeps the chunks."""
    import goalloc.synth

    trace = tmp_path / "steady.msgpack"
    goalloc.synth.generate("steady", 100_000, trace, procs=2, seed=4, force=True)
    configs = [Config(gogc=g) for g in (50, 100, 200)]
    singles = _single_texts(trace, configs)
    with goalloc.trace.open(trace) as r:
        chunks = sum(1 for _ in r)
    monkeypatch.setattr(passes, "KEEP_CHUNKS_BYTES", 0)
    decoded = _count_decodes(monkeypatch)
    assert _grid_texts(trace, configs, 1) == singles
    assert len(decoded) == 3 * chunks
    monkeypatch.undo()

    shared = passes.Passes(str(trace), shared=True)
    with TraceReader(trace) as r:
        header = r.header
    assert shared.get(header, "mid") is None  # not planned
    with goalloc.trace.open(trace) as r:
        it, _vs = shared.chunks(r, False)
        next(iter(it))  # one chunk, then stop
        del it
    assert shared.validated is None and not shared.reading
    with goalloc.trace.open(trace) as r:
        it, _vs = shared.chunks(r, False)
        assert sum(1 for _ in it) == chunks
    assert shared.validated is not None and len(shared.kept) == chunks


def test_replay_refuses_plans_of_another_trace():
    import pytest

    with pytest.raises(ValueError, match="plans of"):
        replay_mod.replay(TRACE, Config(gc_mode="recorded"),
                          plans=passes.Passes(TRACE.with_name("go-http-clientserver.msgpack")))


def test_plan_ids_table_presized_or_grown_gives_one_plan():
    """lookahead's per-id table is sized for the header's event count and set only as far as
    the ids allocated reach; without a count it starts at 64 K rows and is grown (and copied)
    as ids come. Both give the same plan: the deaths, their intervals, the survivors, the
    snapshot objects and the ids the replay allocates (go-json-decoder's reach 280,932, past
    the first 64 K rows: four growths), and that top is the trace's largest allocated id + 1."""
    from goalloc.engine import lookahead
    from goalloc.trace import format as fmt

    path = TRACE.parent / "go-json-decoder.msgpack"
    with goalloc.trace.open(path) as r:
        header = r.header
        top = max(int(ch.id[ch.kind == fmt.ALLOC].max(initial=-1)) for ch in r) + 1
    plans = []
    for events in (header.events, None):
        h = copy.copy(header)
        h.events = events
        plans.append(lookahead.plan(path, h))
    a, b = plans
    assert a.ids_top == b.ids_top == top > 4 << 16
    for name in ("death_at", "death_id", "death_mid", "death_lo", "death_span", "survivors",
                 "obj_id", "dead_ids"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_plan_without_intervals_and_the_lifetimes_rule_after_it():
    """A plan made for a replay that does not place deaths by the lifetime estimate leaves out
    the deaths' allocation times and intervals (death_span) and the survivors, which only that
    estimate reads; every other array is the full plan's. A later replay of the same trace
    under the lifetimes rule plans it again with them: its deaths are placed as a plan made
    for that rule first places them."""
    from goalloc.engine import lookahead

    with goalloc.trace.open(TRACE) as r:
        header = r.header
    full = lookahead.plan(TRACE, header)
    bare = lookahead.plan(TRACE, header, spans=False)
    assert full.death_span is not None and full.death_span.shape == (4, full.death_at.shape[0])
    assert full.survivors is not None
    assert bare.death_span is None and bare.survivors is None
    for name in ("death_at", "death_id", "death_mid", "death_lo", "obj_id", "dead_ids",
                 "span_id", "commit_event", "commit_nonheap"):
        assert np.array_equal(getattr(full, name), getattr(bare, name)), name
    assert full.ids_top == bare.ids_top and full.counts == bare.counts

    first = passes.Passes(TRACE)
    first.get(header, "mid")
    assert first.plan.death_span is None
    later = first.get(header, "lifetimes")
    direct = passes.Passes(TRACE).get(header, "lifetimes")
    assert later.death_est is not None
    assert np.array_equal(later.death_est, direct.death_est)
    assert later.lifetimes == direct.lifetimes


def test_plan_keeps_each_deaths_allocation_site():
    """The planning pass keeps, with each death's allocation time and interval, the site of
    the allocation that made the object (Plan.death_span's fourth row; the cohort rule orders
    deaths within a site): the same as the trace's site column at the last allocation of the
    death's id before its allocation time, read here from the events directly."""
    from goalloc.engine import lookahead

    trace = Path(__file__).resolve().parent.parent / "traces" / "go127-http-clientserver.msgpack"
    ids, ts, site = [], [], []
    with goalloc.trace.open(trace) as r:
        header = r.header
        for ch in r:
            m = ch.kind == fmt.ALLOC
            ids.append(ch.id[m])
            ts.append(ch.ts[m])
            site.append(ch.site[m])
    ids, ts, site = (np.concatenate(x).astype(np.int64) for x in (ids, ts, site))
    p = lookahead.plan(trace, header)
    a, _, _, dsite = p.death_span
    known = a >= 0  # snapshot objects have no allocation time in the trace
    assert known.sum() > 10_000 and (site != 0).mean() > 0.5
    # each known death's allocation: its id's allocation at its allocation time
    order = np.lexsort((ts, ids))
    key = ids[order] * (1 << 40) + ts[order]
    q = p.death_id[known] * (1 << 40) + a[known]
    at = np.searchsorted(key, q, side="right") - 1
    assert (key[at] == q).all()
    assert np.array_equal(dsite[known], site[order][at])
    assert len(np.unique(dsite[known])) > 10
