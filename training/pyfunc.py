"""MLflow pyfunc wrapper: every model bundle is logged as a pyfunc holding the pickled bundle.

`predict(DataFrame)` works for any MLflow consumer; serving unwraps the native bundle
(`load_bundle`) to score numpy arrays directly, which is much faster per request.
"""

from __future__ import annotations

from typing import Any

import joblib
import mlflow.pyfunc
import pandas as pd

BUNDLE = "bundle"


class BundleModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.bundle = joblib.load(context.artifacts[BUNDLE])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        return self.bundle.predict_frame(model_input)


def load_bundle(model_uri: str) -> Any:
    """The native model object behind a logged pyfunc (e.g. `models:/nba-intent@champion`)."""
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().bundle
