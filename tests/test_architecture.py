"""The import contract: stages in layers, faces independent of each other, no cycles.

Read from the source with `ast` (every import counts, those inside functions and under
TYPE_CHECKING too), so that a shortcut through the layers fails here before it lands.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "generator" / "umrunbook"

# From the top down: a module may import its own stage and the stages below it, never above.
LAYERS = (
    ("__main__",),
    ("cli",),
    ("library",),
    ("package", "evidence", "rehearsal"),
    ("faces",),
    ("planning",),
    ("catalogue", "inventory"),
    ("errors", "versions", "typesetting"),
    ("engine",),  # where the single-file binary keeps Typst: below typesetting, which uses it
)
# Stages that share a layer do not import each other: each is reached from above.
# The faces: each is one document or file kind and imports no other; what they share
# (options, templates, formatting) sits in modules of its own below them.
FACES = {
    "markdown": "markdown",
    "html": "html",
    "pdf": "pdf",
    "pdf_data": "pdf",
    "index": "index",
    "transfer": "transfer",
    "ticket": "ticket",
}
FACES_SHARED = {
    "registry",
    "templating",
    "qrcodes",
    "humanize",
    "view",
    "uploads",
    "commonmark",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("umrunbook")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "umrunbook":
                    found |= {f"umrunbook.{a.name}" for a in node.names}
                elif node.module.startswith("umrunbook."):
                    found.add(node.module)
        graph[name] = {m for m in found if m != name}
    return graph


def _resolve(module: str, graph: dict[str, set[str]]) -> str:
    """`from umrunbook.inventory import fields` names a module; an attribute names its owner."""
    while module not in graph and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(stage: str) -> int:
    for n, stages in enumerate(LAYERS):
        if stage in stages:
            return n
    raise AssertionError(f"umrunbook.{stage} is in no layer of the contract: add it to LAYERS")


GRAPH = _imports()
EDGES = sorted((a, _resolve(b, GRAPH)) for a, targets in GRAPH.items() for b in targets)


def test_every_module_is_in_a_layer() -> None:
    for module in GRAPH:
        if module != "umrunbook":
            _layer(_stage(module))


@pytest.mark.parametrize(("importer", "imported"), EDGES, ids=[f"{a}->{b}" for a, b in EDGES])
def test_imports_go_down_the_layers(importer: str, imported: str) -> None:
    if importer == "umrunbook" or imported == "umrunbook":
        return  # the package's face holds the version only
    a, b = _stage(importer), _stage(imported)
    if a == b:
        return
    assert _layer(a) < _layer(b), (
        f"{importer} imports {imported}: {a}/ may use only the stages below it "
        f"({', '.join(s for layer in LAYERS[_layer(a) + 1 :] for s in layer)})"
    )


def test_faces_do_not_import_each_other() -> None:
    wrong = []
    for importer, imported in EDGES:
        if _stage(importer) != "faces" or _stage(imported) != "faces":
            continue
        a, b = importer.rsplit(".", 1)[1], imported.rsplit(".", 1)[1]
        if a in FACES_SHARED and b in FACES:
            wrong.append(f"{importer} (shared) imports the face {imported}")
        elif a in FACES and b in FACES and FACES[a] != FACES[b]:
            wrong.append(f"{importer} imports another face, {imported}")
    assert not wrong, wrong
    listed = FACES.keys() | FACES_SHARED
    present = {m.rsplit(".", 1)[1] for m in GRAPH if _stage(m) == "faces" and m.count(".") == 2}
    assert present <= listed, f"faces/ modules missing from the contract: {present - listed}"


def test_no_import_cycles() -> None:
    graph = {a: {_resolve(b, GRAPH) for b in targets} for a, targets in GRAPH.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_a_planted_cycle_is_caught() -> None:
    graph = {"a": {"b"}, "b": {"a"}}
    with pytest.raises(AssertionError, match="import cycle"):
        saved = dict(GRAPH)
        GRAPH.clear()
        GRAPH.update(graph)
        try:
            test_no_import_cycles()
        finally:
            GRAPH.clear()
            GRAPH.update(saved)


def test_every_registered_face_renders_what_its_name_says() -> None:
    """The registry is the one list of formats: each names a function that exists, and the
    help text and the index's links follow it."""
    from umrunbook.faces.registry import FACES, FORMATS, LINK_ORDER, document_links, formats_help

    for face in FACES:
        assert callable(face.renderer()), face
    assert sorted(LINK_ORDER) == sorted(FORMATS)
    assert formats_help() == f"Comma-separated: {', '.join(FORMATS)}."
    assert {name for name, _ in document_links([("runbook", "Runbook")])} == {
        f"runbook.{name}" for name in FORMATS
    }


def test_iso_targets_state_only_what_differs_from_the_shared_procedure() -> None:
    folder = PACKAGE / "catalogue" / "procedures"
    for target in ("4.4", "4.5", "4.6", "4.7"):
        text = (folder / f"um-{target}.yaml").read_text(encoding="utf-8")
        assert text.count("\n") < 120, target
        assert "\nextends: iso\n" in text, target


# -- the tests' own contract: modules share through tests/helpers and conftest only ----------

TESTS = Path(__file__).resolve().parent


def _imports_of_test_modules(source: str) -> list[str]:
    """The test modules (tests.test_*) a module's source imports, wherever the import stands."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("tests.test_")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 0 and node.module.startswith("tests.test_"):
                found.append(node.module)
            elif node.level == 0 and node.module == "tests":
                found += [f"tests.{a.name}" for a in node.names if a.name.startswith("test_")]
            elif node.level > 0 and node.module.startswith("test_"):
                found.append(node.module)
    return found


def test_no_test_module_imports_another() -> None:
    wrong = {}
    for path in sorted(TESTS.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        found = _imports_of_test_modules(path.read_text(encoding="utf-8"))
        if found:
            wrong[str(path.relative_to(TESTS))] = found
    assert not wrong, f"move what is shared into tests/helpers/ or tests/conftest.py: {wrong}"


@pytest.mark.parametrize(
    "source",
    [
        "from tests.test_cli import tree",
        "import tests.test_pdf",
        "from tests import test_pdf",
        "from .test_pdf import run",
        "def f():\n    from tests.test_transfer import example_plan",
    ],
)
def test_an_import_of_a_test_module_is_caught(source: str) -> None:
    assert _imports_of_test_modules(source)
    assert not _imports_of_test_modules("from tests.helpers import tree\nimport tests.conftest")
