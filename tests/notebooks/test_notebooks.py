"""The notebooks run top to bottom on the shared small trained dataset, so they never rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # notebooks run on the trained_world fixture

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, trained_world, monkeypatch) -> None:
    from pipelines.train_steps import promote_step
    from training.model_specs import DATASET_MODELS

    settings, _ = trained_world
    promote_step(settings, list(DATASET_MODELS))
    monkeypatch.setenv("NBA_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NBA_HOME", str(settings.home))
    monkeypatch.delenv("NBA_MLFLOW_TRACKING_URI", raising=False)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") in ("display_data", "execute_result") for o in outputs)
