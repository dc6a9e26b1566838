"""The dependency rules of the README's architecture picture, checked on the source.

Every import statement counts, those inside functions too: a lazy import is still a dependency.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Inside pipelines/, each stage may import only the stages before it (and the shared top-level modules).
STAGE_ORDER = ("pipelines.data", "pipelines.train", "pipelines.executors", "pipelines.lth")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in ("harness", "pipelines"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports: `from a.b import c` counts as a.b.c when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_through_others():
    assert cycles(graph()) == []


def test_no_package_imports_itself_through_others():
    """Packages too (pipelines.lth, pipelines.executors, harness.cli, ...): module-level acyclicity
    alone would let two packages lean on each other through different modules."""
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, targets in graph().items():
        packages.setdefault(package(module), set()).update(package(t) for t in targets if package(t) != package(module))
    assert cycles(packages) == []


def test_pipelines_never_imports_harness():
    bad = [(a, b) for a, targets in graph().items() for b in targets
           if a.startswith("pipelines") and b.startswith("harness")]
    assert bad == []


def test_each_stage_imports_only_the_stages_before_it():
    def stage(module: str) -> int | None:
        return next((i for i, s in enumerate(STAGE_ORDER) if module == s or module.startswith(s + ".")), None)

    bad = [(a, b) for a, targets in graph().items() for b in targets
           if stage(a) is not None and stage(b) is not None and stage(b) > stage(a)]
    shared = [(a, b) for a, targets in graph().items() for b in targets  # errors, atomic, registry, spark, ...
              if a.startswith("pipelines.") and stage(a) is None and stage(b) is not None]
    assert bad == [] and shared == []


def test_the_checks_see_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "pipelines.lth.search" in graph()["harness.cli.lth"]  # lazy imports inside functions count
