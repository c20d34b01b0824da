"""`bentoml build` packages the service from pyproject.toml: the code it serves and the project's
dependencies, nothing from tests or data."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
