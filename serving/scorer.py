"""The in-process scorer: a loaded bundle answering typed requests. No HTTP, no pandas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from serving.schemas import Lead, example_request
from training.bundle import ModelBundle


class Scorer:
    """Scores :class:`~serving.schemas.Lead` requests with a :class:`ModelBundle`.

    The online feature path (one lead, no DataFrame) and the boosters on one numpy row with
    one thread; reasons from the bundle's exact TreeSHAP explainer.
    """

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle

    def warm_up(self) -> None:
        """Build the explainer and run one request, so the first real one is not slow."""
        self.bundle.explainer()
        self.score(Lead.model_validate(example_request()))

    def score(self, lead: Lead, reasons: bool = True) -> dict[str, Any]:
        # pydantic keeps field values in __dict__: plain dicts, no copy per request.
        as_of = lead.as_of if lead.as_of is not None else datetime.now(UTC)
        events = [e.__dict__ for e in lead.events]
        out = self.bundle.score_one(lead.__dict__, events, as_of, reasons=reasons)
        out["lead_id"] = lead.lead_id
        return out

    def score_many(self, leads: list[Lead], reasons: bool = True) -> list[dict[str, Any]]:
        return [self.score(lead, reasons) for lead in leads]
