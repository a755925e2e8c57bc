"""Training configuration: one validated pydantic model, loadable from YAML.

Unknown keys are errors (a typo must not silently fall back to a default), and every error
names the key and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.contract import UserError
from features.source import DataConfig

TARGETS: tuple[Literal["qualification", "acquisition"], ...] = ("qualification", "acquisition")
LABEL_OF = {"qualification": "y_qualified", "acquisition": "y_acquired"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LightGBMConfig(Strict):
    # Defaults: small, strongly regularised trees. Lead data is noisy and its categorical
    # attributes are many-valued; on the synthetic funnel these beat deeper trees.
    num_leaves: int = Field(15, ge=2, description="Maximum leaves per tree.")
    num_leaves_candidates: tuple[int, ...] = Field(
        (),
        description="Also try these tree sizes (each early-stopped) and keep the one with the lowest validation "
        "log loss, per target; 2 makes stumps, an additive model. Empty: num_leaves only.",
    )
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_rounds: int = Field(2000, ge=1, description="Upper bound on boosting rounds (early stopping picks fewer).")
    early_stopping_rounds: int = Field(100, ge=1)
    min_data_in_leaf: int = Field(200, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(10.0, ge=0)
    path_smooth: float = Field(50.0, ge=0, description="Shrinks leaf values towards their parent's.")
    cat_smooth: float = Field(50.0, ge=0)
    cat_l2: float = Field(30.0, ge=0)
    min_data_per_group: int = Field(100, ge=1)
    max_cat_threshold: int = Field(32, ge=1)
    num_threads: int = Field(0, ge=0, description="0 means LightGBM's default (all cores).")
    refit_on_validation: bool = Field(
        True,
        description="After early stopping, train again on training + validation periods with the rounds it chose "
        "(the most recent data matters when the funnel drifts); the baselines then also fit on both periods.",
    )
    monotone_engagement: bool = Field(
        True, description="More engagement never lowers a score: monotone constraints on activity features."
    )

    @field_validator("num_leaves_candidates")
    @classmethod
    def _candidate_sizes(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(n < 2 for n in v):
            raise ValueError(f"every candidate needs at least 2 leaves, got {list(v)}")
        return v


class FeatureConfig(Strict):
    windows_days: tuple[float, ...] = (1, 7, 30, 90)
    half_lives_days: tuple[float, ...] = (7, 30)
    min_category_count: int = Field(20, ge=1)
    max_categories: int = Field(50, ge=1)
    max_people_per_identifier: int = Field(3, ge=1, description="An identifier linked to more people is a shared device.")


class SnapshotConfig(Strict):
    offsets_days: tuple[float, ...] = (0, 1, 3, 7, 14, 30)
    qualification_horizon_days: float = Field(30, gt=0)
    acquisition_horizon_days: float = Field(90, gt=0)

    @field_validator("offsets_days")
    @classmethod
    def _non_negative(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or min(v) < 0:
            raise ValueError("offsets must be a non-empty list of non-negative days")
        return v


class SplitConfig(Strict):
    by: Literal["time", "row_order"] = Field(
        "time", description="Order snapshots by time (as_of) or by the leads file's row order (data without timestamps)."
    )
    validation_fraction: float = Field(0.15, gt=0, lt=0.5, description="Share of snapshots (by time) for early stopping and calibration.")
    test_fraction: float = Field(0.15, gt=0, lt=0.5, description="The most recent share of snapshots, for evaluation.")


class GateConfig(Strict):
    max_auc_drop: float = Field(0.005, ge=0, description="A challenger may be at most this much worse in AUC than the champion.")
    max_ece: float = Field(0.03, gt=0, description="A challenger's ECE must be at most this, for every target.")


class LeakageConfig(Strict):
    """The leakage guard over user-declared attribute columns (bring-your-own data)."""

    enabled: bool = True
    max_single_feature_auc: float = Field(
        0.95, gt=0.5, le=1, description="A column that alone ranks the training labels better than this is excluded."
    )
    min_rows: int = Field(20, ge=1, description="A column with values in fewer training rows than this is not judged.")


class GradeConfig(Strict):
    # Score is the percentile of the qualification probability among validation snapshots.
    a_min_score: float = Field(90, gt=0, lt=100)
    b_min_score: float = Field(70, gt=0, lt=100)
    c_min_score: float = Field(40, gt=0, lt=100)


class TrainConfig(Strict):
    seed: int = 42
    targets: tuple[Literal["qualification", "acquisition"], ...] = TARGETS
    calibration: Literal["auto", "isotonic", "platt"] = "auto"
    lightgbm: LightGBMConfig = LightGBMConfig()
    features: FeatureConfig = FeatureConfig()
    snapshots: SnapshotConfig = SnapshotConfig()
    split: SplitConfig = SplitConfig()
    gate: GateConfig = GateConfig()
    grades: GradeConfig = GradeConfig()
    leakage: LeakageConfig = LeakageConfig()
    data: DataConfig | None = Field(
        None, description="Bring your own data: where the files are and what the columns mean (see features/source.py)."
    )
    experiment: str = Field("lead-scoring", min_length=1, max_length=250)
    registered_model: str = Field("lead-scoring", min_length=1, max_length=250)
    max_train_rows: int | None = Field(None, ge=1000, description="Subsample training snapshots (for quick runs).")

    @model_validator(mode="before")
    @classmethod
    def _targets_from_data(cls, values: Any) -> Any:
        # With a data section, the targets default to those the data has.
        if isinstance(values, dict) and isinstance(values.get("data"), dict) and "targets" not in values:
            targets = values["data"].get("targets")
            if isinstance(targets, dict) and targets:
                values = {**values, "targets": [t for t in TARGETS if t in targets]}
        return values

    @model_validator(mode="after")
    def _targets_exist(self) -> TrainConfig:
        if self.data is not None:
            absent = [t for t in self.targets if t not in self.data.targets]
            if absent:
                raise ValueError(f"targets {absent} are not in data.targets {sorted(self.data.targets)}")
        if len(set(self.targets)) != len(self.targets) or not self.targets:
            raise ValueError("targets must be one or both of qualification, acquisition, without repeats")
        return self

    def flat_params(self) -> dict[str, Any]:
        """All parameters as flat ``section.key`` pairs, for MLflow."""
        out: dict[str, Any] = {}

        def walk(prefix: str, obj: Any) -> None:
            if isinstance(obj, dict):
                for k, v in obj.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = obj

        dumped = self.model_dump(mode="json")
        # The data section's keys are prefixed "source." (training logs "data.*" as sizes).
        dumped["source"] = dumped.pop("data")
        walk("", dumped)
        return {k: v for k, v in out.items() if k != "source"}


class ConfigError(UserError):
    """A configuration file that does not validate; names the key."""


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` arguments as overrides for :func:`load_config` (values read as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        except RecursionError:
            raise ConfigError(f"{p}: nested too deeply to be a training config") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping of keys at the top level")
        data = loaded or {}
    for key, value in (overrides or {}).items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(top level)'}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"invalid config{f' {path}' if path else ''}: {problems}") from None
