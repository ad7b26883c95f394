"""Every package's allowed imports, checked in one place and without exemptions.

The flow is convert -> jaxcore <- tui, export: the core runs where torch is absent and
without a terminal UI; the front ends load torch only when a checkpoint must be converted
(through the Converter they hand to jaxcore.opening); the converter knows nothing of the UIs.

Two checks per package: importing every module of it in a fresh interpreter leaves the
forbidden modules out of sys.modules, and its source names none of them at module level
(`anywhere` names those not even a function may import). Flax itself imports rich
(flax.linen.summary), so the core's rich is measured against a Flax-only baseline.
"""

import ast
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import cnninterp.convert
import cnninterp.export
import cnninterp.jaxcore
import cnninterp.tui
import cnninterp.tui.widgets


@dataclass(frozen=True)
class Rule:
    package: str
    forbidden: tuple[str, ...]
    """Neither loaded by importing the package's modules nor imported at module level."""
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
        anywhere=("textual", "cnninterp.tui", "cnninterp.export"),
    ),
]
PACKAGES = {
    "cnninterp.jaxcore": [cnninterp.jaxcore],
    "cnninterp.tui": [cnninterp.tui, cnninterp.tui.widgets],
    "cnninterp.export": [cnninterp.export],
    "cnninterp.convert": [cnninterp.convert],
}


def modules(package: str) -> list[tuple[str, Path]]:
    """(module name, source file) of every module of the package and its subpackages."""
    found = []
    for pkg in PACKAGES[package]:
        folder = Path(pkg.__file__).parent
        found.append((pkg.__name__, folder / "__init__.py"))
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.ispkg:
                found.append((f"{pkg.__name__}.{info.name}", folder / f"{info.name}.py"))
    return found


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


def imported_names(path: Path, module_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def matches(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.package)
def test_importing_a_package_loads_nothing_it_must_not(rule):
    names = [name for name, _ in modules(rule.package)]
    watched = rule.forbidden + ("rich",)
    loaded = loaded_after(names, watched)
    assert loaded & set(rule.forbidden) == set()
    if "rich" in rule.anywhere:  # no more rich than Flax brings
        assert loaded - loaded_after(["flax.linen"], watched) == set()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.package)
def test_source_names_nothing_it_must_not(rule):
    offenders = []
    for name, path in modules(rule.package):
        offenders += [
            f"{name}: {n}" for n in imported_names(path, True) if matches(n, rule.forbidden)
        ]
        offenders += [
            f"{name}: {n} (in a function)"
            for n in imported_names(path, False)
            if matches(n, rule.anywhere)
        ]
    assert offenders == []


def test_the_source_check_sees_a_lazy_import(tmp_path):
    """The checker itself: an import inside a function is found by the `anywhere` scan only."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    import torch\n")
    assert imported_names(source, True) == [] and imported_names(source, False) == ["torch"]
