"""Typed request and response models of the scoring API (also the pyfunc model's input)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, create_model, field_validator

if TYPE_CHECKING:
    from features.pipeline import FeaturePipeline

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


TARGET_DESCRIPTIONS = {
    "qualification": "Will the lead become sales-qualified within the horizon?",
    "acquisition": "Will the lead become a paying customer within the horizon?",
}

class _ByoLeadBase(BaseModel):
    """A lead of a bring-your-own-data model: the attributes its config declares."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)

    lead_id: str = Field("", max_length=200, description="Your id of the lead (echoed in the answer).", examples=["L-000123"])


def request_models(pipeline: FeaturePipeline) -> tuple[type[BaseModel], type[BaseModel]]:
    """The request and response models of a bundle's API (``Lead``, ``ScoreResponse`` for contract data).

    A bring-your-own-data model accepts the attributes its config declares (under the
    user's column names, or their field names) and answers only for its targets.
    """
    schema = pipeline.schema_
    if schema.is_contract and tuple(schema.targets) == ("qualification", "acquisition"):
        return Lead, ScoreResponse
    return _byo_models(json.dumps(schema.to_dict(), sort_keys=True))


@lru_cache(maxsize=16)
def _byo_models(schema_json: str) -> tuple[type[BaseModel], type[BaseModel]]:
    from features.source import STANDARD_SOURCES, AttributeSchema

    schema = AttributeSchema.from_dict(json.loads(schema_json))
    fields: dict[str, Any] = {}
    std = set(schema.standard or STANDARD_SOURCES)
    wanted = {c for f in std for c in STANDARD_SOURCES.get(f, ())}
    for name, info in Lead.model_fields.items():
        if name in wanted:
            fields[name] = (info.annotation, info)
    if schema.lead_age:
        fields["created_at"] = (datetime, Lead.model_fields["created_at"])
    if schema.events:
        fields["events"] = (list[Event], Lead.model_fields["events"])
    if schema.lead_age or schema.events:
        fields["as_of"] = (datetime | None, Lead.model_fields["as_of"])

    def alias(name: str) -> dict[str, Any]:
        original = schema.aliases.get(name)
        if original is None:
            return {}
        return {"validation_alias": AliasChoices(original, name), "serialization_alias": original}

    for name in schema.categorical:
        fields[name] = (str | None, Field(None, max_length=MAX_TEXT, description="Category (text).", **alias(name)))
    for name in schema.numeric:
        fields[name] = (float | None, Field(None, allow_inf_nan=False, description="Number.", **alias(name)))
    for name in schema.behaviour:
        fields[name] = (float | None, Field(None, ge=0, allow_inf_nan=False, description="Activity count (≥ 0).", **alias(name)))
    validators = {}
    times = [n for n in ("created_at", "as_of") if n in fields]
    if times:
        validators["_parse_times"] = field_validator(*times, mode="before")(_iso_time)
        validators["_check_times"] = field_validator(*times)(_time_in_range)
    lead = create_model("Lead", __base__=_ByoLeadBase, __validators__=validators, **fields)  # type: ignore[call-overload]
    primary = "qualification" if "qualification" in schema.targets else schema.targets[0]
    base = ScoreResponse.model_fields
    response_fields: dict[str, Any] = {"lead_id": (str, ...), "model": (ModelRef, ...)}
    response_fields |= {t: (TargetScore, Field(description=TARGET_DESCRIPTIONS[t])) for t in schema.targets}
    response_fields["score"] = (float, Field(ge=0, le=100, description=f"Percentile of the {primary} probability among recent leads."))
    response_fields |= {k: (base[k].annotation, base[k]) for k in ("grade", "action")}
    response = create_model("ScoreResponse", **response_fields)
    return lead, response


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
    metrics: dict[str, Any] = Field(default_factory=dict, description="Per target, from training: test-period metrics, and validation_auc and early_stopped_rounds from the validation period.")
    features: list[FeatureDescription]


def example_request_for(pipeline: FeaturePipeline) -> dict[str, Any]:
    """A made-up request for a bundle's API: the contract example, or typical values.

    For a bring-your-own-data model: the most common category and the median number of the
    training data for each declared attribute (never a real lead's row).
    """
    lead_model, _ = request_models(pipeline)
    if lead_model is Lead:
        return example_request()
    base = example_request()
    out: dict[str, Any] = {"lead_id": "example-lead-1"}
    schema = pipeline.schema_
    for name in lead_model.model_fields:
        if name in base and name != "lead_id":
            out[name] = base[name]
    for name in schema.categorical:
        values = pipeline.category_maps_[name].values
        out[schema.aliases.get(name, name)] = values[0] if values else None
    for name in (*schema.numeric, *schema.behaviour):
        out[schema.aliases.get(name, name)] = pipeline.examples_.get(name)
    return out


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
