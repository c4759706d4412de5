"""Layers import one way (#13): trace -> engine -> report -> cli, with the size-class tables
below the trace layer and nothing importing a layer above its own. Read from the source (every
`import goalloc.X` / `from goalloc.X import`, at module level or inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "goalloc"

# lower number = lower layer; a module may import its own layer and those below
LAYERS = {
    # base modules: no goalloc imports but each other's (releases: Go releases' facts; limits:
    # what any file may ask for; jsonread: bounded, shape-checked JSON)
    "errors": 0, "jit": 0, "releases": 0, "limits": 0, "jsonread": 0,
    "sizeclasses": 1,
    "trace": 2,
    "engine": 3, "synth": 3,
    "report": 4,
    "grid": 5,
    "cli": 6, "__main__": 6,
    "warm": 6,  # runs goalloc commands ahead of the first one (make install)
}


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            if node.module == "goalloc":  # from goalloc import report
                for a in node.names:
                    yield node.lineno, f"goalloc.{a.name}"


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "goalloc" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def test_every_goalloc_module_has_a_layer():
    tops = {p.relative_to(PKG).parts[0].removesuffix(".py") for p in PKG.rglob("*.py")}
    assert tops - {"__init__"} <= set(LAYERS), tops - set(LAYERS)


def test_no_import_from_a_higher_layer():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        top = path.relative_to(PKG).parts[0].removesuffix(".py")
        if top == "__init__":
            continue
        for line, module in imports(path):
            target = layer_of(module)
            if target is not None and LAYERS[target] > LAYERS[top]:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {module}")
    assert not bad, "\n".join(bad)
