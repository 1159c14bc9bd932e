"""The package's layers: a module imports only modules of its own layer or of layers below it,
so the code reads from the foundations up and no import runs back up (docs/DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "resnet_pipeline"

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("urls", "artifacts", "knobs", "number_format", "verdicts", "commands", "run_liveness"),
    ("layout", "storage", "training_lock"),
    ("market",),
    ("settings", "partition_months", "partitions", "features"),
    ("trading",),
    ("ml.data",),
    ("ml.model",),
    ("ml.training",),
    ("ml.evaluation",),
    ("ml.folds", "ml.trial_statistics"),
    ("tracking", "tracking_server"),
    ("experiments",),
    ("reports",),
    ("resources", "executors"),
    ("defs", "assets"),
    ("definitions", "config_reference"),
    ("cli",),
)


def layer_of(module: str) -> int:
    """The layer index of ``resnet_pipeline.<module>`` (a package's ``__init__`` included)."""
    best, found = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    if found is None:
        raise AssertionError(f"resnet_pipeline.{module} is in no layer: add it to LAYERS")
    return found


def imports_of(path: Path) -> set[str]:
    """The resnet_pipeline modules ``path`` imports (relative to the package, any depth)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module + "." + alias.name for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("resnet_pipeline."):
                found.add(name.removeprefix("resnet_pipeline."))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_import_runs_up_a_layer(path: Path) -> None:
    own = layer_of(module_name(path))
    upward = sorted(
        name
        for name in imports_of(path)
        if (PACKAGE / name.replace(".", "/")).with_suffix(".py").exists()
        or (PACKAGE / name.replace(".", "/")).is_dir()
        if layer_of(name) > own
    )
    assert not upward, f"resnet_pipeline.{module_name(path)} imports from higher layers: {upward}"


def test_layer_of_reads_the_longest_prefix() -> None:
    assert layer_of("ml.training.trainer") > layer_of("ml.data.windows")
    assert layer_of("cli.demo") == len(LAYERS) - 1
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("nowhere")
