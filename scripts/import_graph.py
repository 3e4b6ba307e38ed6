"""Print tellapart's import graph between its parts, from the source (``ast``), and check its rules.

    python scripts/import_graph.py              # the working tree
    python scripts/import_graph.py --ref 6189d05   # any commit, read with git

A part is a sub-package (``stats``, ``report``, ...) or a top-level module (``schema``, ``describe``).
An edge ``a -> b`` means a module of part ``a`` imports a module of part ``b``: at module level, or
*deferred* (inside a function: paid only when that function runs). The rules checked:

- the core schema (``schema``) imports no part but ``io`` at module level, and ``report``, ``stats``,
  ``bench``, ``train`` and ``describe`` nowhere at module level;
- ``train`` never imports ``bench``;
- ``stats`` never imports ``report`` or ``concepts`` (statistics work on the score matrix; it reads its
  trained weights with ``io.npz``).

Exits 1 when a rule is broken.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "src/tellapart"
RULES = (
    ("schema", {"report", "stats", "bench", "train", "describe"}, "module"),
    ("train", {"bench"}, "any"),
    ("stats", {"report", "concepts"}, "any"),
)


def _sources(ref: str | None) -> dict[str, str]:
    """Module name -> source text, from the working tree or from commit ``ref``."""
    if ref is None:
        files = sorted((ROOT / PACKAGE).rglob("*.py"))
        return {_module(str(p.relative_to(ROOT))): p.read_text() for p in files}
    listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", ref, PACKAGE], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    return {_module(path): subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, check=True,
                                          capture_output=True, text=True).stdout
            for path in listing if path.endswith(".py")}


def _module(path: str) -> str:
    name = path.removeprefix("src/").removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tellapart"


def _imports(module: str, text: str) -> list[tuple[str, bool]]:
    """(imported tellapart module, deferred?) for every import in ``text``."""
    tree = ast.parse(text)
    package = module if module.count(".") == 0 else module.rsplit(".", 1)[0]
    found = []

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only, never run
            if isinstance(child, ast.Import):
                found.extend((alias.name, deferred) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base])
                found.append((base.rstrip("."), deferred))
            visit(child, inner)

    visit(tree, False)
    return [(name, deferred) for name, deferred in found if name.startswith("tellapart")]


def graph(ref: str | None) -> dict[tuple[str, str], dict[str, set[str]]]:
    """(part, imported part) -> {"module": importing modules, "deferred": importing modules}."""
    edges: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(
        lambda: {"module": set(), "deferred": set()})
    for module, text in _sources(ref).items():
        for name, deferred in _imports(module, text):
            source, target = _part(module), _part(name)
            if source != target and target != "tellapart":
                edges[(source, target)]["deferred" if deferred else "module"].add(module)
    return edges


def broken_rules(edges: dict[tuple[str, str], dict[str, set[str]]]) -> list[str]:
    """Return one line per broken rule (empty when the graph keeps them all)."""
    broken = []
    for part, forbidden, scope in RULES:
        for target in sorted(forbidden):
            found = edges.get((part, target))
            if not found:
                continue
            modules = found["module"] | (found["deferred"] if scope == "any" else set())
            if modules:
                broken.append(f"{part} imports {target} ({scope} level): {', '.join(sorted(modules))}")
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="a git commit to read instead of the working tree")
    args = parser.parse_args(argv)
    edges = graph(args.ref)
    print(f"tellapart import graph ({args.ref or 'working tree'}): part -> parts it imports")
    for part in sorted({a for a, _ in edges}):
        module = sorted(b for (a, b), found in edges.items() if a == part and found["module"])
        deferred = sorted(b for (a, b), found in edges.items()
                          if a == part and found["deferred"] and not found["module"])
        line = f"  {part:10s} -> {', '.join(module) or '-'}"
        print(line + (f"   (deferred: {', '.join(deferred)})" if deferred else ""))
    broken = broken_rules(edges)
    print("rules: " + ("all kept" if not broken else "BROKEN"))
    for line in broken:
        print(f"  {line}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
