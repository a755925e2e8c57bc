"""Typed request and response models of the scoring API (also the pyfunc model's input)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_EVENTS_PER_LEAD = 10_000
MAX_TEXT = 1_000


def _iso_time(value: Any) -> Any:
    """ISO 8601 text → datetime before validation.

    MLflow validates pyfunc inputs against these models in strict mode, where pydantic
    accepts only datetime objects; JSON requests carry text. Anything else is left to
    pydantic, which names the field when it fails.
    """
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(2100, 1, 1)  # the data contract's range (features.contract)


def _time_in_range(value: datetime | None) -> datetime | None:
    """Timestamps before 1970 or from 2100 on are typos or placeholders, not data."""
    if value is not None and not EARLIEST <= value.replace(tzinfo=None) < LATEST:
        raise ValueError(f"timestamp outside {EARLIEST.year}–{LATEST.year - 1}")
    return value


class Event(BaseModel):
    """One behavioural event of the lead (already attributed to this person)."""

    model_config = ConfigDict(extra="ignore")

    timestamp: datetime = Field(description="When it happened (ISO 8601; naive times are UTC).", examples=["2024-05-02T14:03:00Z"])
    event_type: str = Field(
        max_length=100,
        description="page_view, pricing_page_view, content_download, webinar_registered, webinar_attended, "
        "email_open, email_click, form_submit, demo_request, trial_signup; other types are counted, not rejected.",
        examples=["pricing_page_view"],
    )
    identifier: str | None = Field(None, max_length=320, description="Cookie, device id, email or lead id the event came under.", examples=["ck_7f3a"])
    channel: str | None = Field(None, max_length=100, description="web, email, event, product …", examples=["web"])
    device_type: str | None = Field(None, max_length=100, examples=["desktop"])
    properties: str | None = Field(None, max_length=MAX_TEXT, description="Page or content.", examples=["/pricing"])

    _parse_times = field_validator("timestamp", mode="before")(_iso_time)
    _check_times = field_validator("timestamp")(_time_in_range)


class Lead(BaseModel):
    """A lead's attributes and its recent events."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    lead_id: str = Field(min_length=1, max_length=200, description="Your id of the lead.", examples=["L-000123"])
    created_at: datetime = Field(description="When the lead was created.", examples=["2024-05-01T09:30:00Z"])
    email: str | None = Field(None, max_length=320, examples=["jane.doe@northwind-analytics.com"])
    job_title: str | None = Field(None, max_length=MAX_TEXT, description="Free-text job title.", examples=["VP of Marketing"])
    company_name: str | None = Field(None, max_length=MAX_TEXT, examples=["Northwind Analytics"])
    company_domain: str | None = Field(None, max_length=253, examples=["northwind-analytics.com"])
    company_size: float | None = Field(None, ge=0, le=10_000_000, description="Employees.", examples=[2000])
    industry: str | None = Field(None, max_length=200, examples=["software"])
    country: str | None = Field(None, max_length=100, examples=["US"])
    source_channel: str | None = Field(None, max_length=100, examples=["paid_search"])
    campaign: str | None = Field(None, max_length=200, examples=["2024-q2-brand-search"])
    acquisition_cost: float | None = Field(None, ge=0, examples=[85.0])
    events: list[Event] = Field(default_factory=list, max_length=MAX_EVENTS_PER_LEAD, description="The person's events, any order.")
    as_of: datetime | None = Field(None, description="Score as of this time (default: now). Only earlier events count.")

    _parse_times = field_validator("created_at", "as_of", mode="before")(_iso_time)
    _check_times = field_validator("created_at", "as_of")(_time_in_range)


class Reason(BaseModel):
    feature: str = Field(description="Feature name.", examples=["n_demo_request_30d"])
    label: str = Field(description="Human-readable label.", examples=["Demo requests, last 30 days"])
    value: str | float | None = Field(description="The lead's value of the feature.", examples=[1.0])
    contribution: float = Field(description="Contribution to the log-odds (exact TreeSHAP).", examples=[0.84])


class Reasons(BaseModel):
    positive: list[Reason] = Field(description="Top reasons raising the probability.")
    negative: list[Reason] = Field(description="Top reasons lowering it.")


class TargetScore(BaseModel):
    probability: float = Field(ge=0, le=1, description="Calibrated probability within the target's horizon.", examples=[0.42])
    fit_score: float | None = Field(None, description="0–100 from the fit (who they are) contributions; 50 is neutral.", examples=[71.5])
    engagement_score: float | None = Field(None, description="0–100 from the engagement contributions; 50 is neutral.", examples=[64.0])
    reasons: Reasons | None = None


class ModelRef(BaseModel):
    name: str = Field(examples=["lead-scoring"])
    version: str = Field(examples=["3"])


class ScoreResponse(BaseModel):
    lead_id: str
    model: ModelRef
    qualification: TargetScore | None = Field(None, description="Will the lead become sales-qualified within the horizon (default 30 days)?")
    acquisition: TargetScore | None = Field(None, description="Will the lead become a paying customer within the horizon (default 90 days)?")
    score: float = Field(ge=0, le=100, description="Percentile of the qualification probability among recent leads.", examples=[93.2])
    grade: Literal["A", "B", "C", "D"] = Field(examples=["A"])
    action: Literal["route_to_sales", "nurture", "disqualify"] = Field(examples=["route_to_sales"])


class FeatureDescription(BaseModel):
    name: str = Field(examples=["n_demo_request_30d"])
    family: Literal["fit", "engagement"] = Field(description="fit: who the lead is; engagement: what they did.")
    label: str = Field(examples=["Demo requests, last 30 days"])
    categorical: bool
    direction: int = Field(description="+1 more is more engaged, -1 less is more engaged (recency), 0 neither.")


class ModelInfo(BaseModel):
    """What the service has loaded."""

    name: str = Field(examples=["lead-scoring"])
    version: str = Field(examples=["3"])
    targets: list[str] = Field(examples=[["qualification", "acquisition"]])
    trained_at: str | None = Field(None, description="When the model was trained (UTC).")
    metrics: dict[str, Any] = Field(default_factory=dict, description="Test-period metrics per target, from training.")
    features: list[FeatureDescription]


def example_request() -> dict[str, Any]:
    """A synthetic lead (made-up values only; used as the MLflow input example and in docs)."""
    return {
        "lead_id": "example-lead-1",
        "created_at": "2024-05-01T09:30:00",
        "email": "jane.doe@northwind-analytics.com",
        "job_title": "VP of Marketing",
        "company_name": "Northwind Analytics",
        "company_domain": "northwind-analytics.com",
        "company_size": 2000.0,
        "industry": "software",
        "country": "US",
        "source_channel": "paid_search",
        "campaign": "2024-q2-brand-search",
        "acquisition_cost": 85.0,
        "as_of": "2024-05-03T12:00:00",
        "events": [
            {"timestamp": "2024-04-28T10:00:00", "event_type": "page_view", "identifier": "ck_example", "channel": "web", "device_type": "desktop", "properties": "/blog/lead-scoring"},
            {"timestamp": "2024-05-01T09:29:00", "event_type": "form_submit", "identifier": "ck_example", "channel": "web", "device_type": "desktop", "properties": "/contact"},
            {"timestamp": "2024-05-02T14:03:00", "event_type": "pricing_page_view", "identifier": "ck_example", "channel": "web", "device_type": "desktop", "properties": "/pricing"},
            {"timestamp": "2024-05-02T14:10:00", "event_type": "demo_request", "identifier": "ck_example", "channel": "web", "device_type": "desktop", "properties": "/demo"},
        ],
    }
