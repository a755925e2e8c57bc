"""The bundle as an MLflow pyfunc model, logged from code (not a pickled object).

MLflow executes this file when the model is loaded; ``set_model`` names the model. The
input is typed with the API's own request model, so the signature is inferred from it and
``mlflow models serve`` validates requests the same way.

No ``from __future__ import annotations`` here: MLflow reads the ``predict`` type hint at
class creation and skips validation and conversion (passing plain dicts) when the hint is
a string it cannot resolve. MLflow validates in pydantic's strict mode; the request
models parse ISO 8601 text themselves (``_iso_time`` in ``serving.schemas``).
"""

from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel

from serving.schemas import Lead


class LeadScoringModel(PythonModel):
    def load_context(self, context: Any) -> None:
        from serving.scorer import Scorer
        from training.bundle import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])
        self.scorer = Scorer(self.bundle)

    # MLflow reads the type hint of ``model_input`` (no ``context`` argument: supported since 2.20).
    def predict(self, model_input: list[Lead], params: dict[str, Any] | None = None) -> list[dict[str, Any]]:  # type: ignore[override]
        reasons = bool((params or {}).get("reasons", False))
        return [self.scorer.score(lead, reasons=reasons) for lead in model_input]


mlflow.models.set_model(LeadScoringModel())
