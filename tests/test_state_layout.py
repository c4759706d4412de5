"""The engine's shared scalar and parameter arrays are split between modules by hand (state.py
holds most slots, locks.py a block of its own): no two names may share a slot, and every slot
(including a name's range, such as the per-op lock counters) must lie inside its array (#13)."""

from __future__ import annotations

import ast
import inspect

from goalloc.engine import locks, state

MODULES = (state, locks)


def defined(mod) -> set[str]:
    """Names the module assigns itself (not those it imports)."""
    tree = ast.parse(inspect.getsource(mod))
    return {t.id for node in tree.body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def slots(prefix: str) -> dict[int, list[str]]:
    taken: dict[int, list[str]] = {}
    for mod in MODULES:
        own = defined(mod)
        for name, value in vars(mod).items():
            if (name.startswith(prefix) and name in own and isinstance(value, int)
                    and not isinstance(value, bool)):
                width = locks.N_LK_OPS if name == "S_LK_CNT0" else 1
                for i in range(value, value + width):
                    taken.setdefault(i, []).append(f"{mod.__name__}.{name}")
    return taken


def test_scalar_slots_do_not_collide():
    taken = slots("S_")
    shared = {i: names for i, names in taken.items() if len(names) > 1}
    assert not shared
    assert max(taken) < state.N_SC and min(taken) >= 0


def test_parameter_slots_do_not_collide():
    taken = slots("P_")
    shared = {i: names for i, names in taken.items() if len(names) > 1}
    assert not shared
    assert max(taken) < state.N_PRM and min(taken) >= 0
