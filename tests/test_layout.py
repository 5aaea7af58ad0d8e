"""The package's shape: imports point one way, from the product down to the basics; every module
says what it owns; no module or function grows past a page or two."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lowest first: a module may import from its own layer and the ones above it in this list.
LAYERS = [
    ("basics", {"errors", "progress", "threads", "levers", "defaults"}),
    ("exact arithmetic and engine", {"exact"}),
    ("models and context mixing", {"models", "cm"}),
    ("file format", {"pxc"}),
    ("images", {"images"}),
    ("checkpoints", {"checkpoint"}),
    ("encoder and training", {"encoder", "training"}),
    ("codec", {"coder", "codec", "two_part"}),
    ("product", {"bundled", "api", "bench", "classic", "chart", "cli", ""}),
]
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / "pixcodec").rglob("*.py")) + sorted((ROOT / "cli").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        parts = ["pixcodec", "cli", *parts[1:]] if parts[0] == "cli" else parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return next(i for i, (_, tops) in enumerate(LAYERS) if top in tops)


def imported(name: str, path: Path) -> set[str]:
    """The pixcodec modules a module imports, lazily or not; type-checking imports left out."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    checking = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            out |= {f"{target}.{a.name}" if f"{target}.{a.name}" in modules() else target for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m.split(".")[0] == "pixcodec"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_point_one_way(name):
    wrong = sorted(m for m in imported(name, modules()[name]) if layer(m) > layer(name))
    assert not wrong, f"{name} ({LAYERS[layer(name)][0]}) imports from above it: {wrong}"


def test_every_module_says_what_it_owns_and_stays_short():
    for name, path in modules().items():
        source = path.read_text()
        tree = ast.parse(source)
        assert ast.get_docstring(tree), f"{name} has no docstring"
        assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{name}: {len(source.splitlines())} lines"
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                assert size <= MAX_FUNCTION_LINES, f"{name}.{node.name}: {size} lines"
