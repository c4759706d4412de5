"""Where the replay kernel's time goes (#14), with Linux perf on the numba code: a child process
loads the cached kernels (keeping the object code numba loads for replay_chunk), replays the
trace once to warm up, then runs Engine.run_chunk over the pre-read chunks --reps times under
`perf record -p` (cpu-clock samples, 64 bytes of user stack each). The samples' addresses are
mapped onto the functions of replay_chunk's object code (`nm`), numba's reference-counting
functions (NRT_incref / NRT_decref, from the runtime's own JIT library) and the shared
libraries perf names. Printed: the share of each, the hottest instructions of replay_chunk's
own body with their disassembly (`objdump`), and which functions the reference-counting
samples return to (their return address is the top word of the captured stack: both are
leaves that keep no frame).

    python benchmarks/perf_kernel.py TRACE [--mode pacer|recorded] [--reps N] [--top N]
                                           [--whole]

--whole profiles `goalloc.replay` calls instead (a recorded Go trace's planning pass, deaths and
every pass; CPU of both threads): what is not replay_chunk's shows as other.

Needs `perf` with access to the process (perf_event_paranoid <= 2 for one's own processes)
and binutils. A sample inside an instruction block is counted on the instruction after the
one that stalled, as perf's timer samples are (skid): read a hot line with the loads before it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, os, subprocess, sys, time
from numba.core import codegen
objects = {}
_set = codegen.CPUCodeLibrary._set_compiled_object
def _keep(self, value):
    objects[self.name] = value
    return _set(self, value)
codegen.CPUCodeLibrary._set_compiled_object = _keep
import goalloc.trace
from goalloc.engine import kernel
from goalloc.engine.config import Config
from goalloc.engine.replay import Engine, replay
from numba.core.runtime import rtsys
trace, mode, reps, work, whole = (sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4],
                                  sys.argv[5] == "1")
cfg = Config(gc_mode=mode)
replay(trace, cfg)  # loads (or compiles) the kernels
with goalloc.trace.open(trace) as r:
    chunks = list(r)
    header = r.header
(sig, cres), = kernel.replay_chunk.overloads.items()
if cres.library.name not in objects:
    sys.exit("replay_chunk was compiled in this run, not loaded: run again (it is cached now)")
open(os.path.join(work, "replay_chunk.o"), "wb").write(objects[cres.library.name])
syms = {"replay_chunk": cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name),
        "symbol": cres.fndesc.llvm_func_name}
for name in ("NRT_incref", "NRT_decref"):
    syms[name] = rtsys.library.get_pointer_to_function(name)
json.dump(syms, open(os.path.join(work, "syms.json"), "w"))
perf = subprocess.Popen(["perf", "record", "-q", "-F", "4999", "--call-graph", "dwarf,64",
                         "-p", str(os.getpid()), "-o", os.path.join(work, "perf.data")],
                        stderr=subprocess.DEVNULL)
time.sleep(1.0)  # perf attaches
t = time.process_time() if whole else time.thread_time()
for _ in range(reps):
    if whole:  # the replay as a user runs it: plan, deaths, every pass (both threads)
        replay(trace, cfg)
        continue
    eng = Engine(header, cfg)
    for c in chunks:
        eng.run_chunk(c)
cpu = (time.process_time() if whole else time.thread_time()) - t
perf.send_signal(2)
perf.wait()
print(json.dumps({"events": reps * sum(c.n for c in chunks), "cpu_s": cpu}))
"""


def _functions(obj: str) -> list[tuple[int, int, str]]:
    """(offset, size, name) of the object's functions, by offset."""
    out = []
    for line in subprocess.run(["nm", "-S", obj], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[0] and parts[2] in "TtWw":
            out.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    return sorted(out)


def _short(symbol: str) -> str:
    """module.function of a numba symbol (_ZN7goalloc6engine6kernel12replay_chunkB...)."""
    s = symbol.removeprefix("_ZN").removeprefix("7cpython")
    names = []
    while s[:1].isdigit():
        j = 0
        while s[j].isdigit():
            j += 1
        k = int(s[:j])
        names.append(s[j:j + k])
        s = s[j + k:]
    return ".".join(names[-2:]) or symbol[:40]


def _samples(data: str):
    """(ip, return address or None) per sample, from `perf script -D`'s raw records."""
    text = subprocess.run(["perf", "script", "-D", "-i", data], capture_output=True,
                          text=True).stdout.split("\n")
    raw: list[int] = []
    in_raw = False
    ip = None
    for line in text:
        if line.startswith(". ... raw event"):
            raw, in_raw = [], True
            continue
        if in_raw:
            m = re.match(r"\.\s+[0-9a-f]{4}:\s+((?:[0-9a-f]{2} )+)", line)
            if m:
                raw.extend(int(x, 16) for x in m.group(1).split())
                continue
            in_raw = False
        m = re.search(r"PERF_RECORD_SAMPLE.*?: (0x[0-9a-f]+) period", line)
        if m:
            ip = int(m.group(1), 16)
            continue
        m = re.match(r"\.\.\. ustack: size \d+, offset (0x[0-9a-f]+)", line)
        if m and ip is not None:
            off = int(m.group(1), 16) + 8  # after the size word
            ret = int.from_bytes(bytes(raw[off:off + 8]), "little") if len(raw) >= off + 8 else None
            yield ip, ret
            ip = None


# replay_chunk (the counted entry) and the loop it calls (kernel._replay_chunk, compiled
# without reference counting): their instructions are listed
_LOOP = ("kernel.replay_chunk", "kernel._replay_chunk")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("trace")
    ap.add_argument("--mode", default="pacer", choices=["pacer", "recorded"])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--whole", action="store_true",
                    help="profile whole goalloc.replay calls (the planning pass, the scan-rate "
                         "pass in pacer mode, the read-ahead thread), not the kernel alone")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="goalloc-perf-")
    p = subprocess.run([sys.executable, "-c", _CHILD, os.path.abspath(args.trace), args.mode,
                        str(args.reps), work, "1" if args.whole else "0"],
                       capture_output=True, text=True,
                       cwd=tempfile.gettempdir())
    if p.returncode != 0:
        sys.exit(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "child failed")
    run = json.loads(p.stdout.strip().splitlines()[-1])
    syms = json.load(open(os.path.join(work, "syms.json")))
    obj = os.path.join(work, "replay_chunk.o")
    funcs = _functions(obj)
    base = syms["replay_chunk"] - next(o for o, _, n in funcs if n == syms["symbol"])
    nrt = {syms["NRT_incref"]: "NRT_incref", syms["NRT_decref"]: "NRT_decref"}

    def where(addr):
        for a, name in nrt.items():
            if a <= addr < a + 16:
                return name, addr - a
        o = addr - base
        for a, size, name in funcs:
            if a <= o < a + size:
                return _short(name), o - a
        return None, 0

    share: collections.Counter = collections.Counter()
    body: collections.Counter = collections.Counter()
    callers: collections.Counter = collections.Counter()
    total = 0
    for ip, ret in _samples(os.path.join(work, "perf.data")):
        total += 1
        name, off = where(ip)
        if name is None:
            name = "kernel/other" if ip >= 1 << 63 else "other (Python, numpy, libc)"
        share[name] += 1
        if name in _LOOP:
            body[(name, off)] += 1
        if name.startswith("NRT_") and ret is not None:
            caller, coff = where(ret)
            callers[f"{caller or '?'}+{coff:#x}"] += 1
    print(f"{run['events']:,} events in {run['cpu_s']:.2f} s of CPU "
          f"({run['events'] / run['cpu_s'] / 1e6:.2f} M events/s); {total} samples")
    print("\nshare of samples by function:")
    for name, c in share.most_common(args.top + 3):
        print(f"  {100 * c / total:5.1f}%  {name}")
    print("\nreference counting returns to:")
    nrt_total = sum(callers.values()) or 1
    for name, c in callers.most_common(args.top):
        print(f"  {100 * c / nrt_total:5.1f}%  {name}")
    asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", obj], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    starts = {_short(n): o for o, _, n in funcs}
    lines = {}  # by offset in the object file
    for line in asm:
        m = re.match(r"\s+([0-9a-f]+):\s+(.*)", line)
        if m:
            lines[int(m.group(1), 16)] = re.sub(r"<_ZN\S+", "<>", m.group(2))[:90]
    offsets = sorted(lines)
    print("\nreplay_chunk's hottest instructions (the loads before a hot line are the suspects):")
    for (name, off), c in body.most_common(args.top):
        at = starts[name] + off
        i = offsets.index(at) if at in lines else None
        print(f"  {100 * c / total:5.1f}%  {name}+{off:#x}")
        if i is not None:
            for o in offsets[max(0, i - 3):i + 1]:
                print(f"           {o - starts[name]:#7x}  {lines[o]}")
    return {"share": dict(share), "callers": dict(callers), "samples": total}


if __name__ == "__main__":
    main()
