"""Compile goalloc's numba kernels ahead of the first command (#14): `make install` runs

    python -m goalloc.warm --replay traces/go127-http-clientserver.msgpack \
        --replay traces/go-parser.msgpack --replay traces/c-python-json.msgpack \
        --gotrace tests/data/gotrace-tiny.trace --mtrace ... --heaptrack ...

which runs, in two processes side by side (the machine's two cores), what the commands users
run first would compile: replays of the shipped traces (pacer and recorded mode, the what-if
range, the trace-start snapshot, attribution, a C trace) in one, the three importers and
`goalloc synth` in the other. numba caches each compiled function on disk (goalloc.jit: a
directory keyed to goalloc's sources), so the first `goalloc replay` after install loads them
instead of compiling for a minute. Each part is a `goalloc` command run as users run it,
output thrown away; a part that fails makes this exit 1 with its error (the install then
stops: a broken install should not look finished). Without any file it replays a small synthetic trace only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def _commands(args, tmp: str) -> list[list[list[str]]]:
    """The two parts, each a list of `goalloc` argument lists run one after another: the
    engine's (every replay: one process compiles each kernel once) and the rest."""
    engine: list[list[str]] = []
    other: list[list[str]] = []
    traces = list(args.replay or [])
    if not traces:
        traces = [os.path.join(tmp, "synth.msgpack")]
        engine.append(["synth", "steady", "-n", "20000", "-o", traces[0], "--seed", "1"])
    engine.append(["replay", traces[0], "--json"])  # pacer mode, the what-if range
    engine.append(["replay", traces[0], "--gc", "recorded", "--json"])
    for t in traces[1:]:  # a trace-start snapshot, a C trace, attribution
        engine.append(["replay", t, "--gc", "recorded", "--attribute", "--json"])
    for fmt_name, src in (("gotrace", args.gotrace), ("mtrace", args.mtrace),
                          ("heaptrack", args.heaptrack)):
        if src is not None:
            other.append(["import", fmt_name, src, "-o", os.path.join(tmp, f"{fmt_name}.msgpack")])
    if args.mtrace:  # an address map grown past its first size (addrmap._rehash), which the
        # importers of large traces reach and the small files above do not
        many = _many_live_mtrace(os.path.join(tmp, "many-live.mtrace"))
        other.append(["import", "mtrace", many, "-o", os.path.join(tmp, "many-live.msgpack")])
    if args.replay:  # synth has not run in the engine's part
        for w, *extra in (("steady",), ("batch",), ("fragmenter",), ("large",),
                          ("profile", "--profile", "tcmalloc:beta")):
            other.append(["synth", w, "-n", "2000", "-o", os.path.join(tmp, f"{w}.msgpack"),
                          "--seed", "1", *extra])
    return [engine, other]


MANY_LIVE = 40_000  # live addresses: more than half of addrmap.AddrMap's first 2^16 slots


def _many_live_mtrace(path: str) -> str:
    """A glibc mtrace log of MANY_LIVE allocations none of which is freed."""
    with open(path, "w") as f:
        f.write("= Start\n")
        f.writelines(f"@ ./warm:[0x1000] + {0x10000000 + 32 * i:#x} 0x18\n"
                     for i in range(MANY_LIVE))
        f.write("= End\n")
    return path


def _run_part(cmds: list[list[str]]) -> subprocess.Popen:
    """One part: a child Python that runs the commands in order (run_chain)."""
    return subprocess.Popen([sys.executable, "-m", "goalloc.warm", "--chain", json.dumps(cmds)],
                            stderr=subprocess.PIPE, text=True)


def run_chain(cmds: list[list[str]]) -> int:
    """Run `goalloc` commands one after another, output thrown away; the first that fails
    ends the chain with its error on stderr (exit status 1)."""
    for c in cmds:
        r = subprocess.run([sys.executable, "-m", "goalloc", *c], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode:
            print(f"goalloc {' '.join(c)}: {r.stderr.strip()}", file=sys.stderr)
            return 1
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m goalloc.warm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replay", action="append",
                    help="a goalloc trace to replay (repeat it: the first in pacer and in "
                         "recorded mode, the others recorded with --attribute)")
    ap.add_argument("--gotrace", help="a Go execution trace to import")
    ap.add_argument("--mtrace", help="a glibc mtrace file to import")
    ap.add_argument("--heaptrack", help="a heaptrack raw file to import")
    ap.add_argument("--chain", help=argparse.SUPPRESS)  # one part's commands (JSON), internal
    args = ap.parse_args(argv)
    if args.chain is not None:
        return run_chain(json.loads(args.chain))
    t0 = time.perf_counter()
    print("goalloc: compiling the numba kernels once, for every later run (about half a minute "
          "on two cores) ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="goalloc-warm-") as tmp:
        parts = [_run_part(c) for c in _commands(args, tmp) if c]
        errors = [p.communicate()[1].strip() for p in parts]
        failed = [e for p, e in zip(parts, errors, strict=True) if p.returncode]
        if args.gotrace and not failed:
            # a fresh import's own replay, once the parts have cached the rest: the header's
            # late mcache flushes and snapshot mcaches, which the shipped traces (imported
            # before those existed) do not have (three kernels, ~3 s at a user's first
            # replay of an import otherwise)
            p = _run_part([["replay", os.path.join(tmp, "gotrace.msgpack"), "--json"]])
            e = p.communicate()[1].strip()
            if p.returncode:
                failed.append(e or "the replay of the Go import failed")
    for e in failed:
        print(f"goalloc: {e}", file=sys.stderr)
    if failed:
        return 1
    print(f"goalloc: kernels compiled and cached in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
