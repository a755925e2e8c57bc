"""The in-process scorer: a loaded bundle answering typed requests. No HTTP, no pandas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from serving.schemas import Lead
from training.bundle import ModelBundle


class Scorer:
    """Scores :class:`~serving.schemas.Lead` requests with a :class:`ModelBundle`."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle

    def score(self, lead: Lead, reasons: bool = True) -> dict[str, Any]:
        # pydantic keeps field values in __dict__: plain dicts, no copy per request.
        as_of = lead.as_of if lead.as_of is not None else datetime.now(UTC)
        events = [e.__dict__ for e in lead.events]
        out = self.bundle.score_one(lead.__dict__, events, as_of, reasons=reasons)
        out["lead_id"] = lead.lead_id
        return out

    def score_many(self, leads: list[Lead], reasons: bool = True) -> list[dict[str, Any]]:
        return [self.score(lead, reasons) for lead in leads]
