"""jaxcore must run where torch is absent and without a terminal UI: prove what it imports.

Flax itself imports rich (flax.linen.summary), so rich at run time is measured against a
baseline that imports only Flax; the source of jaxcore is also read for direct imports.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import cnninterp.jaxcore

FORBIDDEN = ("torch", "textual", "rich")
JAXCORE = Path(cnninterp.jaxcore.__file__).parent


def is_command_line(module_name: str) -> bool:
    """Command-line front ends (export_cli, export_cli_progress) may print with rich; the
    library modules may not."""
    return "cli" in module_name.split("_")


def library_modules() -> list[str]:
    return [
        f"cnninterp.jaxcore.{m.name}"
        for m in pkgutil.iter_modules(cnninterp.jaxcore.__path__)
        if not is_command_line(m.name)
    ]


def forbidden_loaded_after(*modules: str) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(' '.join(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_importing_jaxcore_loads_no_torch_or_textual_and_no_more_rich_than_flax():
    loaded = forbidden_loaded_after("cnninterp.jaxcore", *library_modules())
    assert not loaded & {"torch", "textual"}
    assert loaded - forbidden_loaded_after("flax.linen") == set()


def test_jaxcore_source_imports_none_of_them():
    offenders = []
    for path in JAXCORE.glob("*.py"):
        if is_command_line(path.stem):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
