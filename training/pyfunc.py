"""MLflow pyfunc wrapper: every model bundle is logged as a pyfunc holding the pickled bundle.

`predict(DataFrame)` works for any MLflow consumer, in an environment without this project:
the model is logged with the project's `training` and `features` packages as code paths and
their requirements. Serving unwraps the native bundle (`load_bundle`) to score numpy arrays
directly, which is much faster per request.

Trust: a bundle is a pickle, and unpickling runs code, so the MLflow store must be trusted
(docs/operations.md). As a guard against a swapped or corrupted artifact, registration records
the bundle's SHA-256 on the model version (`bundle_sha256`) and `load_bundle` refuses a file
whose hash differs, before unpickling it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import joblib
import mlflow.pyfunc
import pandas as pd

BUNDLE = "bundle"
HASH_TAG = "bundle_sha256"
log = logging.getLogger(__name__)


class BundleModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.bundle = joblib.load(context.artifacts[BUNDLE])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        return self.bundle.predict_frame(model_input)


class BundleHashMismatch(RuntimeError):
    """The model artifact is not the file that was registered."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_bundle(model_uri: str, expected_sha256: str | None = None) -> Any:
    """The native model object behind a logged pyfunc (e.g. `models:/nba-intent/3`), after
    checking its file against the hash recorded at registration (looked up when not given)."""
    import mlflow.artifacts

    local = Path(mlflow.artifacts.download_artifacts(model_uri))
    path = next(local.glob(f"artifacts/{BUNDLE}*"), None)
    if path is None:  # an unusual layout: let MLflow load it
        return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().bundle
    expected = expected_sha256 or _registered_hash(model_uri)
    if expected is None:
        log.warning("%s: no %s recorded at registration; loading unchecked", model_uri,
                    HASH_TAG)
    elif file_sha256(path) != expected:
        raise BundleHashMismatch(f"{model_uri}: the model file's SHA-256 differs from the one "
                                 "recorded at registration; refusing to load it")
    return joblib.load(path)


def _registered_hash(model_uri: str) -> str | None:
    """`bundle_sha256` of the model version behind `models:/name/version` or `@alias`."""
    if not model_uri.startswith("models:/"):
        return None
    from mlflow.tracking import MlflowClient

    ref = model_uri.removeprefix("models:/")
    client = MlflowClient()
    if "@" in ref:
        name, alias = ref.split("@", 1)
        mv = client.get_model_version_by_alias(name, alias)
    else:
        name, version = ref.rsplit("/", 1)
        mv = client.get_model_version(name, version)
    return (mv.tags or {}).get(HASH_TAG)
