"""numba set-up shared by every kernel module: the on-disk cache, compile progress and bit
intrinsics.

Import this module (not numba directly) from kernel modules. It points NUMBA_CACHE_DIR at a
directory keyed to a hash of goalloc's own sources: numba keys each cached function on its
defining file only, so an edit to a callee in another module would otherwise leave a stale
caller in the cache (docs/model.md, Performance). When stderr is a terminal, a compile (a cache
miss) shows a progress line: what is compiling and for how long.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import sys
import threading
import time
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _source_hash() -> str:
    h = hashlib.sha256()
    for path in sorted(_PKG.rglob("*.py")):
        h.update(str(path.relative_to(_PKG)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    # (GOALLOC_STATE_REFCOUNTS=1 compiles other code from the same sources: a cache apart)
    mode = "-refcounts" if os.environ.get("GOALLOC_STATE_REFCOUNTS") == "1" else ""
    return Path(base) / "goalloc" / f"numba-{_source_hash()}{mode}"


def _prune_stale(current: Path, max_age_s: float = 86400.0) -> None:
    """Remove caches of other source versions unused for a day (best effort): each edit or
    upgrade leaves one. Recent ones stay, so two checkouts in use at once keep theirs."""
    import shutil
    import time

    if current.exists() or not current.parent.exists():
        return
    now = time.time()
    for old in current.parent.glob("numba-*"):
        try:
            if now - old.stat().st_mtime > max_age_s:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass


if "NUMBA_CACHE_DIR" not in os.environ:
    _dir = cache_dir()
    _prune_stale(_dir)
    os.environ["NUMBA_CACHE_DIR"] = str(_dir)

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import types  # noqa: E402
from numba.core import cgutils  # noqa: E402,F401
from numba.core import event as _event  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

JIT_DISABLED = bool(numba.config.DISABLE_JIT)


class _OneSpecialisation(numba.core.registry.CPUDispatcher):
    """A dispatcher compiled once per argument types, not once per constant value: a call from
    another kernel that passes a constant (a module-level name such as CYK_FORCED, a literal
    True) would otherwise compile the callee again for each value, with all it calls (#14:
    gc.mark_start was compiled four times, gc.sample five). LLVM still folds a constant into
    a callee it inlines.

    Where numba allows it (DEFER_CALLEES), a kernel compiled because another kernel calls it
    is compiled only to be linked into its callers ("Callees compiled for their callers"
    below); a Python call of such a kernel compiles it again as an entry."""

    def get_call_template(self, args, kws):
        outer, _CALLEE.active = _CALLEE.active, DEFER_CALLEES
        try:
            return super().get_call_template(
                tuple(types.unliteral(a) for a in args),
                {k: types.unliteral(v) for k, v in kws.items()})
        finally:
            _CALLEE.active = outer

    def compile(self, sig):
        if not _CALLEE.active:  # called from Python: a linked-only overload will not do
            args = tuple(numba.core.sigutils.normalize_signature(sig)[0])
            cres = self.overloads.get(args)
            if cres is not None and isinstance(cres.entry_point, _LinkedOnly):
                del self.overloads[args]
        return super().compile(sig)

    def add_overload(self, cres):
        if self.targetoptions.get("_nrt") is False and _refcounted(cres.signature.return_type):
            raise TypeError(f"{self.py_func.__qualname__} is compiled without reference "
                            f"counting and returns {cres.signature.return_type}: its caller "
                            "would own a reference nobody took")
        if cres.entry_point is not None or cres.objectmode:
            return super().add_overload(cres)
        # compiled as a callee (numba's no_compile): no machine code, no Python entry, and
        # not in the C dispatch table, so that a Python call misses and compiles an entry
        cres.library._goalloc_linked_only = True
        entry = _LinkedOnly(self.py_func.__qualname__)
        cres = cres._replace(entry_point=entry)
        self.targetctx.insert_user_function(entry, cres.fndesc, [cres.library])
        self.overloads[tuple(cres.signature.args)] = cres


def njit(*args, **kwargs):
    """`numba.njit` whose dispatchers compile one specialisation per argument types. A
    function over the engine state (its first parameter is `s`) is compiled without
    reference counting unless it says `_nrt` ("Functions over the state" below)."""
    if args and callable(args[0]):
        return _one_specialisation(numba.njit(**_state_options(args[0], kwargs))(args[0]))
    return lambda f: _one_specialisation(numba.njit(*args, **_state_options(f, kwargs))(f))


# ---- functions over the state without reference counting (#14) -----------------------------
#
# numba counts references to every array and struct a function is handed or reads out of the
# engine state: each call of a function over the state took and dropped one on the state and
# one on each array it read from it, two atomic calls into numba's runtime each (perf: 5% of
# the steady kernel's samples, 10% of the heavy shape's, at the entries of the refill path's
# functions). Those functions allocate nothing and keep nothing: they are called from a
# kernel that holds the state for the whole call, so the counts never mattered. They are
# compiled with `_nrt=False`. Two rules keep that safe: such a function returns nothing
# counted (checked when it compiles), and goalloc does not call one from Python (a call from
# Python keeps a reference to the state, which then lives until the process exits: the
# Python entry points are `kernel`s, counted as usual; tests may call the others directly;
# tests/test_jit.py checks that a replay's entries are all counted). One that allocates
# fails to compile without the runtime and says `_nrt=True`.


def _over_state(f) -> bool:
    import inspect

    try:
        params = list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] == "s"


def _state_options(f, kwargs: dict) -> dict:
    if STATE_WITHOUT_REFCOUNTS and "_nrt" not in kwargs and _over_state(f):
        return {**kwargs, "_nrt": False}
    return kwargs


def _refcounted(t) -> bool:
    if isinstance(t, types.BaseTuple):
        return any(_refcounted(x) for x in t.types)
    return isinstance(t, (types.Array, types.StructRef, types.ListType, types.DictType,
                          types.UnicodeType))


def _struct_data_without_runtime() -> bool:
    """Let code without reference counting read a struct's fields (numba 0.68): numba fetches
    a structref's data pointer through its runtime (NRT_MemInfo_data_fast, a load of the
    MemInfo's data field) and refuses to without reference counting. The load is emitted in
    place instead, the same code LLVM made of the inlined call. Other versions: the state's
    functions keep their reference counts."""
    from numba.core.runtime import context, nrtdynmod

    if JIT_DISABLED or not numba.__version__.startswith("0.68.") or not hasattr(
            nrtdynmod, "_meminfo_struct_type") or not hasattr(context.NRTContext,
                                                              "meminfo_data"):
        return False

    def meminfo_data(self, builder, meminfo):
        info = builder.bitcast(meminfo, nrtdynmod._meminfo_struct_type.as_pointer())
        return builder.load(cgutils.gep(builder, info, 0, 3))

    context.NRTContext.meminfo_data = meminfo_data
    return True


# GOALLOC_STATE_REFCOUNTS=1: the state's functions counted as numba does (for comparisons)
STATE_WITHOUT_REFCOUNTS = os.environ.get("GOALLOC_STATE_REFCOUNTS", "0") != "1" and \
    _struct_data_without_runtime()


def _one_specialisation(disp):
    if isinstance(disp, numba.core.registry.CPUDispatcher):  # (a plain function under
        disp.__class__ = _OneSpecialisation                   # NUMBA_DISABLE_JIT)
        disp._compiler._customize_flags = _callee_flags
    return disp


# ---- callees compiled for their callers (#14) -----------------------------------------------


class _Callee(threading.local):
    active = False  # True while a kernel is compiled because another kernel calls it


_CALLEE = _Callee()


def _callee_flags(flags):
    """numba's flags for a kernel compiled as a callee: lowered to LLVM IR and optimised
    function by function, but no Python or C wrapper and no machine code of its own."""
    if _CALLEE.active:
        flags.no_compile = True
        flags.no_cpython_wrapper = True
        flags.no_cfunc_wrapper = True
    return flags


class _LinkedOnly:
    """The entry point numba records for a kernel compiled as a callee only: a key for the
    callers' lowering (numba's user-function table), never called from Python (a Python call
    compiles the kernel again as an entry, _OneSpecialisation.compile)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self.name} was compiled to be linked into other kernels only")


def _defer_callees() -> bool:
    """Compile a kernel that other kernels call only for them (numba 0.68).

    numba compiles every dispatcher to machine code, and a library that links another
    re-optimises all it links: a callee's code was optimised and code-generated once on its
    own and again in each caller up to the entry points (2026-12-05: 152 of the 162
    functions a first replay compiled were callees only, 12 of their 14 s of LLVM module
    optimisation and code generation). A callee's library now stays LLVM IR optimised
    function by function (numba's own compile_internal does the same for its helpers):
    marking it finalised links nothing and generates no code, its callers link what it
    links, and only the entry points (the kernels Python calls) are optimised as wholes and
    code-generated. A callee is not cached on its own (it has no machine code); its callers
    are, with it inside. Other numba versions keep numba's own behaviour."""
    from numba.core import caching, codegen

    lib = codegen.CPUCodeLibrary
    cache = getattr(caching, "Cache", None)
    if JIT_DISABLED or not numba.__version__.startswith("0.68.") or cache is None or not all(
            hasattr(lib, a) for a in ("_ensure_finalized", "add_linking_library",
                                      "finalize")) \
            or not hasattr(cache, "save_overload"):
        return False

    def _ensure_finalized(self):
        if not self._finalized:
            if getattr(self, "_goalloc_linked_only", False):
                self._finalized = True  # nothing more may be added; linked as it is
            else:
                self.finalize()

    def add_linking_library(self, library):
        library._ensure_finalized()
        self._linking_libraries.append(library)
        if getattr(library, "_goalloc_linked_only", False):
            # what it links is not inside it: link that here (its list is already closed:
            # it did the same for its own linked-only callees)
            have = {id(x) for x in self._linking_libraries}
            for dep in library._linking_libraries:
                if id(dep) not in have:
                    have.add(id(dep))
                    self._linking_libraries.append(dep)

    save = cache.save_overload

    def save_overload(self, sig, data):
        if not getattr(getattr(data, "library", None), "_goalloc_linked_only", False):
            save(self, sig, data)

    lib._ensure_finalized = _ensure_finalized
    lib.add_linking_library = add_linking_library
    cache.save_overload = save_overload
    return True


# ---- loading cached kernels (#14) -----------------------------------------------------------


def _light_cache_load() -> bool:
    """Load cached kernels without numba's full target refresh (numba 0.68).

    numba's Cache.load_overload refreshes the typing and target contexts before loading a
    cached function: it imports and registers every implementation numba has (linalg, random,
    typed containers, ...), 0.25-0.4 s of CPU on this machine, a third of a warm replay of a
    tiny trace. Rebuilding cached code needs none of it, only the runtime (NRT) its code
    calls. A cache miss still compiles as before: the compiler refreshes both contexts itself
    (numba.core.compiler.Pipeline). Other numba versions keep numba's own method."""
    from numba.core import caching
    from numba.core.runtime import rtsys

    cache = getattr(caching, "Cache", None)
    if not numba.__version__.startswith("0.68.") or cache is None or not all(
            hasattr(cache, a) for a in ("load_overload", "_load_overload",
                                        "_guard_against_spurious_io_errors")):
        return False

    def load_overload(self, sig, target_context):
        with signals_deferred():
            rtsys.initialize(target_context)
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)

    cache.load_overload = load_overload
    return True


LIGHT_CACHE_LOAD = _light_cache_load()
# GOALLOC_DEFER_CALLEES=0: every kernel compiled whole, as numba does (for comparisons)
DEFER_CALLEES = os.environ.get("GOALLOC_DEFER_CALLEES", "1") != "0" and _defer_callees()


# ---- compile progress (#14) ----------------------------------------------------------------


class CompileProgress(_event.Listener):
    """While numba compiles (a cache miss: the first run after install or an edit), one line on
    `stream` says what it is compiling and for how long, redrawn in place; when compiling has
    been idle for a moment (or the process exits) a last line says how many functions took how
    long. Loading cached kernels is silent. Installed by `install_progress`."""

    def __init__(self, stream, *, tick: float = 0.25, idle: float = 0.75):
        self.stream = stream
        self.tick = tick
        self.idle = idle
        self.lock = threading.Lock()
        self.depth = 0
        self.count = 0
        self.current = ""
        self.t0 = 0.0
        self.last_end = 0.0
        self.thread = None

    def on_start(self, event):
        d = event.data["dispatcher"]
        f = getattr(d, "py_func", None)
        name = f"{f.__module__}.{f.__qualname__}" if f is not None else str(d)
        with self.lock:
            self.depth += 1
            self.count += 1
            self.current = name.removeprefix("goalloc.")
            if self.thread is None:
                self.t0 = time.perf_counter()
                self.thread = threading.Thread(target=self._run, name="goalloc-jit-progress",
                                               daemon=True)
                self.thread.start()

    def on_end(self, event):
        with self.lock:
            self.depth -= 1
            self.last_end = time.perf_counter()

    def _line(self, text: str, end: str = "") -> None:
        try:
            self.stream.write("\r\x1b[K" + text + end)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def _run(self) -> None:
        while True:
            time.sleep(self.tick)
            with self.lock:
                now = time.perf_counter()
                if self.depth == 0 and now - self.last_end >= self.idle:
                    self._finish_locked()
                    return
                self._line(f"compiling the numba kernels (once after install): {self.current} "
                           f"{now - self.t0:.0f} s")

    def _finish_locked(self) -> None:
        if self.thread is None:
            return
        self._line(f"compiled {self.count} numba functions in "
                   f"{self.last_end - self.t0:.1f} s (cached for later runs)", "\n")
        self.thread = None
        self.count = 0

    def finish(self) -> None:
        with self.lock:
            if self.depth == 0:
                self._finish_locked()


def install_progress(stream=None) -> CompileProgress | None:
    """Show compile progress on stderr when it is a terminal (every command that compiles)."""
    stream = stream if stream is not None else sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return None
    listener = CompileProgress(stream)
    _event.register("numba:compile", listener)
    atexit.register(listener.finish)
    return listener


PROGRESS = install_progress()


class _CompileDepth(_event.Listener):
    """How many numba compilations are in progress (nested), and a signal that arrived during
    one: raised once the outermost compilation has ended (`defer_signal`)."""

    depth = 0
    pending = None  # the exception to raise when compiling ends

    def on_start(self, event):
        type(self).depth += 1

    def on_end(self, event):
        cls = type(self)
        cls.depth -= 1
        cls.raise_pending()

    @classmethod
    def raise_pending(cls):
        if cls.depth == 0 and cls.pending is not None:
            exc, cls.pending = cls.pending, None
            raise exc


_event.register("numba:compile", _CompileDepth())


@contextlib.contextmanager
def signals_deferred():
    """Count the block as compiling (`compiling`): loading a cached kernel runs llvmlite's
    ctypes callbacks too (the runtime's own module is compiled at the first load, the loaded
    code goes through the object cache), where a signal handler's exception is printed and
    dropped ("Exception ignored", and the command ran on: a CI run of 2026-12-05 replayed to
    the end after its Ctrl-C). A signal deferred meanwhile is raised when the block ends."""
    _CompileDepth.depth += 1
    try:
        yield
    finally:
        _CompileDepth.depth -= 1
        _CompileDepth.raise_pending()


def compiling() -> bool:
    """True while numba compiles. A signal handler must not raise then: the exception would
    surface inside llvmlite's ctypes callbacks ("Exception ignored", a traceback, exit 1)
    instead of unwinding to the command (#18); it defers it (`defer`)."""
    return _CompileDepth.depth > 0


def defer(exc: BaseException) -> bool:
    """Raise `exc` when the compilation in progress ends (from numba's compile-end event, in
    plain Python, so every `finally` on the way out runs). False if one is already waiting."""
    if _CompileDepth.pending is not None:
        return False
    _CompileDepth.pending = exc
    return True


def kernel(*args, **kwargs):
    """`numba.njit` with goalloc's defaults: cached, no Python fallback."""
    kwargs.setdefault("cache", True)
    kwargs.setdefault("nogil", True)
    kwargs.setdefault("_nrt", True)  # an entry point: Python calls it (see njit)
    return njit(*args, **kwargs)


@intrinsic
def _cttz64(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        (val,) = args
        return builder.cttz(val, context.get_constant(types.boolean, False))

    return sig, codegen


@intrinsic
def _ctlz64(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        (val,) = args
        return builder.ctlz(val, context.get_constant(types.boolean, False))

    return sig, codegen


@intrinsic
def _ctpop64(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        (val,) = args
        return builder.ctpop(val)

    return sig, codegen


@intrinsic
def _prefetch(typingctx, arr, row, col):
    if not isinstance(arr, types.Array) or arr.ndim not in (1, 2):
        return None
    sig = types.void(arr, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer2(
            context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides), layout=aryty.layout,
            inds=[args[1], args[2]][:aryty.ndim], wraparound=False, boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        # read, keep in every cache level, data
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


# the uint64 words of the engine's bitmaps (allocBits, pallocBits, scavenged bits): none, the
# lowest bit, all bits (numba freezes module globals as constants)
U0 = np.uint64(0)
U1 = np.uint64(1)
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)

if JIT_DISABLED:

    def ctz64(x):
        """Count trailing zeros of a uint64 (64 for 0), as sys.TrailingZeros64."""
        x = int(x)
        return 64 if x == 0 else (x & -x).bit_length() - 1

    def popcount64(x):
        return bin(int(x)).count("1")

    def hibit64(x):
        """Index of the highest set bit of a non-zero uint64, as 63 - sys.LeadingZeros64."""
        return int(x).bit_length() - 1

    def prefetch(arr, row, col):
        """A hint without effect on results (nothing to do without the JIT)."""

else:

    @numba.njit(cache=True, inline="always")
    def prefetch(arr, row, col):
        """Ask the CPU to bring arr[row, col]'s cache line in (arr[row] for a 1-D array; col
        is then ignored) (llvm.prefetch): a hint, without effect on any result. row and col
        must lie inside arr (the caller clamps them): the address is computed without bounds
        or wraparound checks."""
        _prefetch(arr, np.int64(row), np.int64(col))

    @numba.njit(cache=True, inline="always")
    def ctz64(x):
        """Count trailing zeros of a uint64 (64 for 0), as sys.TrailingZeros64."""
        return np.int64(_cttz64(np.uint64(x)))

    @numba.njit(cache=True, inline="always")
    def popcount64(x):
        return np.int64(_ctpop64(np.uint64(x)))

    @numba.njit(cache=True, inline="always")
    def hibit64(x):
        """Index of the highest set bit of a non-zero uint64, as 63 - sys.LeadingZeros64."""
        return 63 - np.int64(_ctlz64(np.uint64(x)))
