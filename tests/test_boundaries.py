"""Every package's allowed imports, and the direction of every arrow inside jaxcore, checked here.

The flow is convert -> jaxcore <- tui, export: the core runs where torch is absent and
without a terminal UI; the front ends load torch only when a checkpoint must be converted
(through the converter they hand to jaxcore.opening); the converter knows nothing of the UIs.
Inside jaxcore the role folders are layered, files < model < images < summaries < rows <
passes < explain < store < opening.py, and a module imports only from its own folder or from
folders below it (docs/ARCHITECTURE.md draws the graph, and must draw the current one).

The modules are found by walking every folder that pyproject.toml maps to a package, so a new
module or subpackage is checked without being named here. The source is read by
docs/import_graph.py, the script that draws the page's diagram: the test checks the graph the
page shows. Per package, two checks: importing every module of it in a fresh interpreter leaves
the forbidden modules out of sys.modules, and its source imports none of them when it is
imported (`anywhere` names those not even a function may import). Flax itself imports rich
(flax.linen.summary), so the core's rich is measured against a Flax-only baseline.
"""

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest


def load_import_graph() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "docs" / "import_graph.py"
    spec = importlib.util.spec_from_file_location("cnninterp_docs_import_graph", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


graph = load_import_graph()


@dataclass(frozen=True)
class Rule:
    package: str
    """A root package: the modules under its folder, subpackages included."""
    forbidden: tuple[str, ...]
    """Neither loaded by importing the package's modules nor imported when they are imported."""
    anywhere: tuple[str, ...] = ()
    """Not imported even inside a function."""


RULES = [
    Rule(
        "cnninterp.jaxcore",
        ("torch", "textual", "cnninterp.convert", "cnninterp.tui", "cnninterp.export"),
        anywhere=(
            "torch",
            "textual",
            "rich",
            "cnninterp.convert",
            "cnninterp.tui",
            "cnninterp.export",
            "cnninterp.demo",
        ),
    ),
    Rule(
        "cnninterp.tui",
        ("torch", "cnninterp.convert", "cnninterp.export"),
        anywhere=("torch", "cnninterp.export"),
    ),
    Rule(
        "cnninterp.export",
        ("torch", "textual", "cnninterp.convert", "cnninterp.tui"),
        anywhere=("torch", "textual", "cnninterp.tui"),
    ),
    Rule(
        "cnninterp.convert",
        ("textual", "cnninterp.tui", "cnninterp.export"),
        anywhere=("textual", "cnninterp.tui", "cnninterp.export", "cnninterp.demo"),
    ),
    # The demo trains in PyTorch and converts its checkpoint: torch and convert are its own.
    Rule(
        "cnninterp.demo",
        ("textual", "cnninterp.tui", "cnninterp.export"),
        anywhere=("textual", "rich", "cnninterp.tui", "cnninterp.export"),
    ),
    # cnninterp/ itself: the version, and what the front ends share (exit codes, options, the
    # converter hook). Both front ends import it before anything heavy, so it loads nothing
    # heavy itself: jaxcore and the converter only inside the functions that need them.
    Rule(
        "cnninterp",
        (
            "torch",
            "textual",
            "jax",
            "cnninterp.jaxcore",
            "cnninterp.convert",
            "cnninterp.tui",
            "cnninterp.export",
        ),
        anywhere=("torch", "textual", "cnninterp.tui", "cnninterp.export"),
    ),
]


def loaded_after(names: list[str], watched: tuple[str, ...]) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(' '.join(m for m in {list(watched)!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def matches(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


def test_every_package_has_a_rule():
    """A new top-level package (a folder pyproject.toml maps) must come with its rule here."""
    assert set(graph.roots()) == {rule.package for rule in RULES}


def test_every_package_folder_is_installed():
    """A folder with an __init__.py under a package is in pyproject.toml's packages too (a
    subpackage missing there works in an editable install and is absent from a wheel)."""
    found = {name for name, path in graph.modules().items() if path.name == "__init__.py"}
    assert found == set(graph.installed_packages())


def test_the_walk_finds_subpackages():
    """Modules of nested folders are checked too (jaxcore's role folders, tui's widgets)."""
    found = graph.modules()
    assert "cnninterp.jaxcore.passes.explainer" in found
    assert "cnninterp.jaxcore.opening" in found
    assert "cnninterp.demo.train" in found
    assert any(name.startswith("cnninterp.tui.widgets.") for name in found)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.package)
def test_importing_a_package_loads_nothing_it_must_not(rule):
    names = list(graph.modules(rule.package))
    watched = rule.forbidden + ("rich",)
    loaded = loaded_after(names, watched)
    assert loaded & set(rule.forbidden) == set()
    if "rich" in rule.anywhere:
        assert loaded - loaded_after(["flax.linen"], watched) == set()  # no more rich than Flax's


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.package)
def test_source_names_nothing_it_must_not(rule):
    offenders = []
    known = set(graph.modules())
    for name, path in graph.modules(rule.package).items():
        for item in graph.imports_of(name, path, known):
            if item.at_import_time and matches(item.name, rule.forbidden):
                offenders.append(f"{name}:{item.line}: {item.name}")
            elif matches(item.name, rule.anywhere):
                offenders.append(f"{name}:{item.line}: {item.name} (in a function)")
    assert offenders == []


def test_jaxcore_imports_no_other_cnninterp_package():
    """The core stands alone: its arrows end in jaxcore, whatever packages are added above it."""
    outside = [
        f"{item.module}:{item.line}: {item.name}"
        for (source, target), items in graph.edges().items()
        if source.startswith("jaxcore/") and not target.startswith("jaxcore/")
        for item in items
    ]
    assert outside == []


def test_every_jaxcore_folder_has_a_place_in_the_flow():
    folders = {graph.jaxcore_folder(name) for name in graph.modules("cnninterp.jaxcore")}
    assert folders - {None} == set(graph.JAXCORE_FLOW)


def test_jaxcore_arrows_point_down_the_flow():
    """No module imports (at the top or in a function) from a role folder above its own."""
    assert graph.upward_imports() == []


def test_the_architecture_page_draws_the_graph_of_the_code():
    """docs/ARCHITECTURE.md's diagrams are those the code gives now (redraw them with
    `python docs/import_graph.py --write`)."""
    page = graph.PAGE.read_text()
    assert len(graph.DIAGRAM.findall(page)) == 2
    assert graph.redrawn(page, graph.edges()) == page


def test_the_flow_check_sees_an_upward_import():
    """The checker itself: rows importing passes is upward, passes importing rows is not, and
    a folder missing from the flow is named."""
    up = graph.Import("cnninterp.jaxcore.rows.crops", "cnninterp.jaxcore.passes.order", 7, False)
    down = graph.Import("cnninterp.jaxcore.passes.order", "cnninterp.jaxcore.rows.crops", 7, True)
    stray = graph.Import("cnninterp.jaxcore.extra.x", "cnninterp.jaxcore.files.disk", 1, True)
    assert graph.upward_imports([up]) == [
        "cnninterp.jaxcore.rows.crops:7: cnninterp.jaxcore.passes.order (rows imports passes)"
    ]
    assert graph.upward_imports([down]) == []
    assert "'extra' not in the flow" in graph.upward_imports([stray])[0]


def test_the_source_check_sees_a_lazy_import(tmp_path):
    """The reader itself: an import in a function, or under TYPE_CHECKING, does not run when
    the module is imported; one in a class body does; `from pkg import module` is the module."""
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import jax\n"
        "class C:\n"
        "    import numpy\n"
        "def f():\n"
        "    import torch\n"
        "from cnninterp.jaxcore.rows import crops\n"
    )
    found = {
        item.name: item.at_import_time
        for item in graph.imports_of("m", source, {"cnninterp.jaxcore.rows.crops"})
    }
    assert found == {
        "typing": True,
        "jax": False,
        "numpy": True,
        "torch": False,
        "cnninterp.jaxcore.rows.crops": True,
    }
