"""`bentoml build` packages the service from pyproject.toml: the code it serves and the project's
dependencies, nothing from tests or data."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # each runs BentoML in a subprocess (7 s); CI runs them


def test_bentoml_build_packages_the_service(tmp_path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    out = subprocess.run([sys.executable, "-m", "bentoml", "build"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (bento,) = (tmp_path / "bentos" / "nba-email").glob("*/bento.yaml")
    src = bento.parent / "src"
    assert (src / "serving" / "service.py").exists()
    assert (src / "training" / "pyfunc.py").exists()  # models unpickle against this code
    assert not (src / "tests").exists() and not (src / "benchmarks").exists()
    assert "service: serving.service:NextBestAction" in bento.read_text()
    from packaging.requirements import Requirement

    lines = (bento.parent / "env" / "python" / "requirements.txt").read_text().splitlines()
    packaged = {Requirement(line).name for line in lines if line.strip()}
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {Requirement(d).name for d in deps} <= packaged


TRACING_CHECK = """
from bentoml._internal.configuration.containers import BentoMLContainer
from serving.service import NextBestAction
NextBestAction.inject_config()  # what each worker does before building its app
urls = BentoMLContainer.tracing_excluded_urls.get()
for path in ("next_best_action", "next_best_action/batch", "events", "open/abc", "healthz"):
    print(path, bool(urls and urls.url_disabled("http://127.0.0.1:3000/" + path)))
"""


def test_served_api_routes_open_no_tracing_span(tmp_path) -> None:
    """BentoML opens an OpenTelemetry span per request even without an exporter; `nba serve`
    leaves the API routes out. The option must be the services' own tracing key: a top-level
    `tracing.excluded_urls` is overwritten by the service defaults in each worker (it was, and
    every decision paid for its spans)."""
    from features.settings import Settings
    from pipelines.serve_steps import serve_env

    env = {**serve_env(Settings.from_env(env={}, home=tmp_path)),
           "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    env.pop("BENTOML_CONFIG", None)
    out = subprocess.run([sys.executable, "-c", TRACING_CHECK], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    excluded = dict(line.split() for line in out.stdout.splitlines())
    assert excluded == {"next_best_action": "True", "next_best_action/batch": "True",
                        "events": "True", "open/abc": "True", "healthz": "False"}
