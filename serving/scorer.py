"""The in-process scorer: a loaded bundle answering typed requests. No HTTP, no pandas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from serving.schemas import example_request_for, request_models
from training.bundle import ModelBundle


class Scorer:
    """Scores :class:`~serving.schemas.Lead` requests with a :class:`ModelBundle`.

    The online feature path (one lead, no DataFrame) and the boosters on one numpy row with
    one thread; reasons from the bundle's exact TreeSHAP explainer.
    """

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        # The request/response models of this bundle: the contract's, or those its config declares.
        self.request_model, self.response_model = request_models(bundle.pipeline)

    def example(self) -> BaseModel:
        return self.request_model.model_validate(example_request_for(self.bundle.pipeline))

    def warm_up(self) -> None:
        """Build the explainer and run one request, so the first real one is not slow."""
        self.bundle.explainer()
        self.score(self.example())

    def score(self, lead: BaseModel, reasons: bool = True) -> dict[str, Any]:
        # pydantic keeps field values in __dict__: plain dicts, no copy per request.
        values = lead.__dict__
        as_of = values.get("as_of") or datetime.now(UTC)
        events = [e.__dict__ for e in values.get("events", ())]
        out = self.bundle.score_one(values, events, as_of, reasons=reasons)
        out["lead_id"] = values["lead_id"]
        return out

    def score_many(self, leads: list[BaseModel], reasons: bool = True) -> list[dict[str, Any]]:
        return [self.score(lead, reasons) for lead in leads]
