"""The layout: stages on top, the library below, reports as a leaf; no module imports itself in a circle.

Reads every module's imports from its source (module level and inside functions) instead of importing it, so a
function-level import that would close a circle at run time is found too.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rlkd"
LIBRARY = ("data", "models", "teacher", "precompute", "distill", "env", "curriculum", "rl", "tune", "config")
TOP = ("stages", "reports")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The rlkd modules `name` imports: `from a.b import c` names a.b.c where c is a module, else a.b."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "rlkd"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rlkd":
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            found |= subs or {node.module}
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def test_every_rlkd_import_names_a_module_that_exists():
    assert len(MODULES) > 60 and all(GRAPH.values()) is not None
    assert "rlkd.stages.train" in GRAPH["rlkd.stages"] and "rlkd.config" in GRAPH["rlkd.stages.base"]


def test_no_import_circle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                circle = path[path.index(dep):] + [dep] if dep in path else [name, dep]
                pytest.fail("import circle: " + " -> ".join(circle))
            if dep not in state:
                visit(dep, path + [dep])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("package", LIBRARY)
def test_the_library_imports_no_stage_and_no_report(package):
    offenders = {(name, dep) for name, deps in GRAPH.items() if name.split(".")[1:2] == [package]
                 for dep in deps if dep.split(".")[1:2] and dep.split(".")[1] in TOP}
    assert not offenders, f"rlkd.{package} imports the layers above it: {sorted(offenders)}"


def test_reports_import_no_stage():
    offenders = {(name, dep) for name, deps in GRAPH.items() if name.startswith("rlkd.reports")
                 for dep in deps if dep.startswith("rlkd.stages")}
    assert not offenders, sorted(offenders)


def test_the_config_package_imports_no_engine():
    engine = {dep for name, deps in GRAPH.items() if name.startswith("rlkd.config") for dep in deps
              if not dep.startswith(("rlkd.config", "rlkd.errors", "rlkd.seeds", "rlkd.workdir"))}
    assert not engine, sorted(engine)
