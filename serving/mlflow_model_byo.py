"""A bring-your-own-data bundle as an MLflow pyfunc model, logged from code.

Such a model's request fields are the attributes its config declares, known only once
the bundle is loaded, so this file cannot carry them as a type hint (as
``serving/mlflow_model.py`` does for the data contract). The signature comes from the
input example instead (typical values, no real rows), and every row is validated with
the bundle's own request model (:func:`serving.schemas.request_models`) in ``predict``.
"""

import math
from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class ByoLeadScoringModel(PythonModel):
    def load_context(self, context: Any) -> None:
        from serving.scorer import Scorer
        from training.bundle import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])
        self.scorer = Scorer(self.bundle)

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        reasons = bool((params or {}).get("reasons", False))
        rows = model_input.to_dict("records") if hasattr(model_input, "to_dict") else list(model_input)
        model = self.scorer.request_model
        leads = [model.model_validate({k: _none_if_nan(v) for k, v in row.items()}) for row in rows]
        return [self.scorer.score(lead, reasons=reasons) for lead in leads]


def _none_if_nan(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


mlflow.models.set_model(ByoLeadScoringModel())
