"""The package's shape (docs/architecture.md): layers in folders, short functions.

The import rules between the layers are checked by ``lint-imports`` in
``make test`` (the contracts are in pyproject.toml); these tests check what
import-linter does not.
"""

import ast
from pathlib import Path

import sim

PACKAGE = Path(sim.__file__).parent
LAYERS = ("engine", "studies", "reports", "cli")
LONGEST = 80  # lines, def to last line


def _functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield path.relative_to(PACKAGE.parent), node


def test_no_hand_written_function_is_longer_than_80_lines():
    long = [
        f"{path}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, node in _functions()
        if node.end_lineno - node.lineno + 1 > LONGEST
    ]
    assert long == []


def test_every_module_lives_in_a_layer():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py"]
    for layer in LAYERS:
        init = PACKAGE / layer / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        # each layer says what it is for and what it may import
        assert doc is not None
        assert "Import" in doc or "import" in doc


def test_the_public_api_names_are_importable_from_sim():
    for name in sim.__all__:
        assert getattr(sim, name) is not None
    assert sim.load_model.__module__ == "sim.engine"
    assert sim.simulate.__module__ == "sim.engine.simulate"
