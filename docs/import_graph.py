"""The import graph between cnninterp's packages and jaxcore's role folders, read from source.

    python docs/import_graph.py --write           # redraw the diagrams in docs/ARCHITECTURE.md
    python docs/import_graph.py --view packages   # its first diagram (jaxcore as one node)
    python docs/import_graph.py --view jaxcore    # its second: jaxcore's role folders
    python docs/import_graph.py --text            # every arrow, with the imports behind it

Nothing is imported: every package folder that pyproject.toml installs is walked and each
module's source parsed with `ast`, so imports inside functions count as much as those at the
top (a lazy import is still an arrow). tests/test_boundaries.py reads the graph through these
same functions, and checks that the page's diagrams are the ones drawn from the code now.

A node is a package (`tui`, `export`, ..., subpackages folded in) or, inside jaxcore, a role
folder (`jaxcore/rows`) or `jaxcore/opening.py`. `JAXCORE_FLOW` orders the role folders from the
bottom of the flow to its top; every arrow between two of them must point down it.
"""

import argparse
import ast
import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JAXCORE = "cnninterp.jaxcore"
JAXCORE_FLOW = (
    "files",
    "model",
    "images",
    "summaries",
    "rows",
    "passes",
    "explain",
    "store",
    "opening",
)
"""jaxcore's role folders, bottom of the flow first; `opening` is jaxcore/opening.py, on top."""


@dataclass(frozen=True)
class Import:
    module: str
    """The importing module, e.g. cnninterp.jaxcore.rows.crops."""
    name: str
    """What it imports, resolved to a module where it names one (`from a import b` -> a.b)."""
    line: int
    at_import_time: bool
    """False when the import sits in a function body (runs only when the function is called)."""


def package_folders() -> dict[str, Path]:
    """{package: folder} as pyproject.toml's [tool.setuptools.package-dir] installs them."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: REPO / folder for name, folder in setuptools["package-dir"].items()}


def installed_packages() -> list[str]:
    """The packages pyproject.toml lists in [tool.setuptools] packages."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return list(setuptools["packages"])


def roots() -> dict[str, Path]:
    """The mapped folders that no other mapped folder holds: cnninterp/, convert/, jaxcore/, ..."""
    folders = package_folders()
    return {
        name: folder
        for name, folder in folders.items()
        if not any(other != folder and other in folder.parents for other in folders.values())
    }


def modules(root: str | None = None) -> dict[str, Path]:
    """{module name: source file} of every module under the root folders (or under one).

    Found by walking the folders: a folder with an __init__.py is a package, whether or not
    pyproject.toml lists it yet (test_boundaries checks that it does).
    """
    found = {}
    for name, folder in roots().items():
        if root is not None and name != root:
            continue
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            in_packages = all(
                (folder.joinpath(*parts[:i]) / "__init__.py").exists() for i in range(len(parts))
            )
            if not in_packages:
                continue  # a script beside the packages (none today), or a data folder
            dotted = [name, *parts[:-1]] if parts[-1] == "__init__" else [name, *parts]
            found[".".join(dotted)] = path
    return found


def imports_of(
    module: str, path: Path, known: set[str] | frozenset[str] = frozenset()
) -> list[Import]:
    """Every import statement of one module, with whether it runs when the module is imported.

    `from pkg import name` is recorded as pkg.name when that is a module in `known` (so
    `from cnninterp.jaxcore.rows import crops` is an arrow to rows/crops.py), else as pkg.
    Relative imports are resolved against the module's package.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, at_import_time: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, node.lineno, at_import_time))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                name = full if full in known else base
                found.append(Import(module, name, node.lineno, at_import_time))
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.body:  # seen by the type checker only, never run
                visit(child, False)
            for child in node.orelse:
                visit(child, at_import_time)
            return
        inside = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, at_import_time and not inside)

    visit(tree, True)
    return list(dict.fromkeys(found))  # `from a import b, c` of one module: one entry


def is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    if isinstance(test, ast.Attribute):
        return test.attr == "TYPE_CHECKING"
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def all_imports() -> list[Import]:
    """The imports of every module of every installed package."""
    found = modules()
    known = set(found)
    return [item for module, path in found.items() for item in imports_of(module, path, known)]


def node_of(module: str) -> str | None:
    """The graph node a cnninterp module belongs to; None for modules outside cnninterp."""
    parts = module.split(".")
    if parts[0] != "cnninterp":
        return None
    if len(parts) == 1:
        return "cnninterp"
    if module.startswith(JAXCORE + ".") and len(parts) > 2:
        return "jaxcore/opening.py" if parts[2] == "opening" else f"jaxcore/{parts[2]}"
    return parts[1]  # tui, export, ... (subpackages folded in), or a module at cnninterp's root


def jaxcore_folder(module: str) -> str | None:
    """The role folder (a JAXCORE_FLOW entry, or an unknown folder's name) of a jaxcore module."""
    parts = module.split(".")
    if module.startswith(JAXCORE + ".") and len(parts) > 2:
        return parts[2]
    return None


def edges(imports: list[Import] | None = None) -> dict[tuple[str, str], list[Import]]:
    """{(from node, to node): the imports behind the arrow} between different nodes."""
    graph: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for item in all_imports() if imports is None else imports:
        source, target = node_of(item.module), node_of(item.name)
        if source and target and source != target:
            graph[source, target].append(item)
    return dict(graph)


def upward_imports(imports: list[Import] | None = None) -> list[str]:
    """Imports from a jaxcore role folder into one above it in JAXCORE_FLOW (or not in it)."""
    rank = {folder: i for i, folder in enumerate(JAXCORE_FLOW)}
    wrong = []
    for item in all_imports() if imports is None else imports:
        here, there = jaxcore_folder(item.module), jaxcore_folder(item.name)
        if here is None or there is None or here == there:
            continue
        if here not in rank or there not in rank:
            unknown = here if here not in rank else there
            wrong.append(f"{item.module}:{item.line}: {item.name} ({unknown!r} not in the flow)")
        elif rank[there] > rank[here]:
            wrong.append(f"{item.module}:{item.line}: {item.name} ({here} imports {there})")
    return wrong


def view(graph: dict[tuple[str, str], list[Import]], which: str) -> dict:
    """The arrows of one view: "packages" (jaxcore as one node), "jaxcore" (its folders), "all"."""
    if which == "all":
        return graph
    if which == "jaxcore":
        return {
            edge: items
            for edge, items in graph.items()
            if all(node.startswith("jaxcore/") for node in edge)
        }
    folded: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for (source, target), items in graph.items():
        edge = tuple("jaxcore" if n.startswith("jaxcore/") else n for n in (source, target))
        if edge[0] != edge[1]:
            folded[edge[0], edge[1]] += items
    return dict(folded)


def mermaid(graph: dict[tuple[str, str], list[Import]]) -> str:
    """A mermaid flowchart; dotted arrows are imports made only inside functions."""

    def ident(node: str) -> str:
        return node.replace("/", "_").replace(".", "_")

    lines = ["flowchart TD"]
    for node in sorted({n for edge in graph for n in edge}):
        lines.append(f'    {ident(node)}["{node}"]')
    for (source, target), items in sorted(graph.items()):
        arrow = "-->" if any(item.at_import_time for item in items) else "-.->"
        lines.append(f"    {ident(source)} {arrow} {ident(target)}")
    return "\n".join(lines)


PAGE = REPO / "docs" / "ARCHITECTURE.md"
DIAGRAM = re.compile(r"(<!-- import_graph --view (\w+) -->\n```mermaid\n)(.*?)(```)", re.DOTALL)
"""A diagram in the page: the marker naming its view, then the mermaid block it is redrawn in."""


def redrawn(page: str, graph: dict[tuple[str, str], list[Import]]) -> str:
    """The page's text with every marked diagram drawn from `graph`."""
    return DIAGRAM.sub(
        lambda m: m.group(1) + mermaid(view(graph, m.group(2))) + "\n" + m.group(4), page
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--view", choices=("packages", "jaxcore", "all"), default="all")
    parser.add_argument("--text", action="store_true", help="arrows as text, with their imports")
    parser.add_argument("--write", action="store_true", help=f"redraw the diagrams in {PAGE.name}")
    args = parser.parse_args()
    if args.write:
        PAGE.write_text(redrawn(PAGE.read_text(), edges()))
        return
    graph = view(edges(), args.view)
    if not args.text:
        print(mermaid(graph))
        return
    for (source, target), items in sorted(graph.items()):
        lazy = "" if any(i.at_import_time for i in items) else "  (only inside functions)"
        print(f"{source} -> {target}{lazy}")
        for item in items:
            print(f"    {item.module}:{item.line} {item.name}")


if __name__ == "__main__":
    main()
