"""The engine's flat scalar arrays (prm, sc, fs) are laid out in one place, engine/state.py, where
each name takes the next slot of its array in order (#13). Checked from the source, not from the
allocator's own bookkeeping: no slot number is written by hand there, no other engine module
defines names of those arrays (a block split off by hand, as locks.py once had), and the
values the names got are distinct, in range and as wide as their uses need."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from goalloc.engine import locks, state

ENGINE = Path(state.__file__).parent
ARRAYS = {"P_": ("_prm", state.N_PRM), "S_": ("_sc", state.N_SC), "F_": ("_fs", state.N_FS)}
# names whose value is the first of several slots: (prefix, name) -> slots
WIDE = {"S_LK_CNT0": state.N_LK_OPS, "F_LAST_CM": 4}


def assignments(source: str):
    """(name, value node) of each module-level `NAME = ...`."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    yield t.id, node.value


def array_names(prefix: str) -> dict[str, int]:
    own = dict(assignments(inspect.getsource(state)))
    return {n: getattr(state, n) for n in own if n.startswith(prefix) and n[len(prefix)].isupper()}


def test_every_slot_is_taken_from_its_array_in_state_py():
    for name, value in assignments(inspect.getsource(state)):
        for prefix, (alloc, _) in ARRAYS.items():
            if name.startswith(prefix) and name[len(prefix)].isupper():
                assert isinstance(value, ast.Call) and isinstance(value.func, ast.Name), name
                assert value.func.id == alloc, f"{name} takes a slot of {value.func.id}"


def test_no_other_engine_module_defines_slots():
    bad = []
    for path in sorted(ENGINE.glob("*.py")):
        if path.name in ("state.py", "bill.py"):  # bill.py's sc is its own small array
            continue
        for name, _ in assignments(path.read_text()):
            if any(name.startswith(p) and name[len(p)].isupper() for p in ARRAYS):
                bad.append(f"{path.name}: {name}")
    assert not bad


def test_slots_are_distinct_and_in_range():
    for prefix, (_, size) in ARRAYS.items():
        taken: dict[int, str] = {}
        for name, first in array_names(prefix).items():
            for slot in range(first, first + WIDE.get(name, 1)):
                assert slot not in taken, f"{name} and {taken[slot]} share slot {slot}"
                assert 0 <= slot < size, f"{name}: slot {slot} outside {prefix}* (size {size})"
                taken[slot] = name


def test_lock_counters_cover_every_lock_op():
    assert len(locks.OP_NAMES) == state.N_LK_OPS
    ops = [v for n, v in vars(locks).items() if n.startswith("LK_") and n not in ("LK_TS", "LK_P",
                                                                                   "LK_OP")]
    assert sorted(ops) == list(range(state.N_LK_OPS))
