"""Layering: features <- training <- serving <- pipelines, never the other way round; inside
features/, each subpackage imports only the ones below it; the API process does not import
matplotlib, and the model specs import nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "features": {"training", "serving", "pipelines"},
    "training": {"serving", "pipelines"},
}

# inside features/: the subpackages each one may import (all may import the top-level modules,
# settings, schema, transforms and quiet, which import no subpackage)
FEATURES_LAYERS: dict[str, set[str]] = {
    "": set(),  # features/*.py
    "sources": set(),
    "repo": set(),
    "spark": set(),
    "offline": {"sources", "repo", "spark"},
    "online": {"sources", "repo", "spark"},
    "simulation": {"sources", "online"},
}


def imported_modules(path: Path) -> set[tuple[int, str]]:
    """(line, module) of every absolute import in a file, lazy ones included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {(node.lineno, f"{node.module}.{a.name}") for a in node.names}
    return found


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a file, lazy ones included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, a.name.split(".")[0]) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    bad = [f"{f.relative_to(ROOT)}:{line} imports {top}"
           for f in files for line, top in sorted(imported_packages(f))
           if top in FORBIDDEN[package]]
    assert not bad, "\n".join(bad)


def test_features_subpackages_import_only_the_layers_below() -> None:
    root = ROOT / "features"
    subpackages = {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    assert subpackages == set(FEATURES_LAYERS) - {""}, "add a new subpackage to FEATURES_LAYERS"
    bad = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root)
        mine = rel.parts[0] if len(rel.parts) > 1 else ""
        for line, module in sorted(imported_modules(f)):
            parts = module.split(".")
            if parts[0] == "features" and len(parts) >= 2 and parts[1] in subpackages \
                    and parts[1] != mine and parts[1] not in FEATURES_LAYERS[mine]:
                bad.append(f"features/{rel}:{line} imports {module}")
    assert not bad, "\n".join(bad)


def test_api_imports_no_matplotlib() -> None:
    # what the service imports, plus what loading the champion bundles imports
    modules = ("serving.engine, serving.scoring, serving.service, training.tracking, "
               "training.pyfunc, training.binary, training.affinity, training.send_time, "
               "training.response")
    code = f"import sys, {modules}; print(sorted(m for m in sys.modules if 'matplotlib' in m))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]", out


def test_model_specs_import_no_heavy_libraries() -> None:
    # the CLI, the API and tests read the model list without loading what trains or serves them
    heavy = ("lightgbm", "mlflow", "feast", "matplotlib", "pandas", "serving", "pipelines")
    code = ("import sys, training.model_specs; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]", out
