"""The model bundle: the unit that is versioned, registered, promoted and served.

A bundle directory holds ``bundle.json`` (fitted feature pipeline, calibrators, grade
cut-offs, labels, metadata: plain JSON, never a pickle) and one LightGBM text model per
target. :class:`ModelBundle` loads it and scores leads: :meth:`score_one` for one lead
(the online feature path, boosters on numpy, one thread) and :meth:`predict_matrix` for
feature matrices built by the batch path.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from features.contract import UserError
from features.pipeline import FeaturePipeline
from training.attribution import TreeExplainer
from training.calibration import Calibrator
from training.fastpredict import FastRowPredictor

FORMAT_VERSION = 1
BUNDLE_FILE = "bundle.json"
GRADES = ("A", "B", "C", "D")
ACTIONS = {"A": "route_to_sales", "B": "nurture", "C": "nurture", "D": "disqualify"}


class BundleError(UserError):
    """A bundle that is missing, corrupt or inconsistent; refused at load."""


@dataclass
class TargetModel:
    name: str
    booster: lgb.Booster
    calibrator: Calibrator

    def raw(self, X: np.ndarray, num_threads: int = 0) -> np.ndarray:
        return np.asarray(self.booster.predict(X, num_threads=num_threads), dtype="float64")

    def predict(self, X: np.ndarray, num_threads: int = 0) -> np.ndarray:
        return self.calibrator.predict(self.raw(X, num_threads))

    def raw_one(self, x: np.ndarray) -> float:
        """The booster's output for one row, through LightGBM's fast single-row C path."""
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self.__dict__["_fast"] = FastRowPredictor(self.booster)
        return fast.predict(x)


@dataclass
class ModelBundle:
    pipeline: FeaturePipeline
    targets: dict[str, TargetModel]
    score_quantiles: list[float]
    grade_min_scores: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str = "lead-scoring"
    version: str = "unregistered"

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name, tm in self.targets.items():
            tm.booster.save_model(str(d / f"{name}.txt"))
        doc = {
            "format_version": FORMAT_VERSION,
            "pipeline": self.pipeline.to_dict(),
            "targets": {n: {"calibrator": t.calibrator.to_dict(), "model_file": f"{n}.txt"} for n, t in self.targets.items()},
            "score_quantiles": self.score_quantiles,
            "grade_min_scores": self.grade_min_scores,
            "metadata": self.metadata,
        }
        (d / BUNDLE_FILE).write_text(json.dumps(doc, indent=1, default=_json_default), encoding="utf-8")
        return d

    @classmethod
    def load(cls, directory: str | Path, name: str = "lead-scoring", version: str = "unregistered") -> ModelBundle:
        d = Path(directory)
        path = d / BUNDLE_FILE
        if not path.exists():
            raise BundleError(f"no {BUNDLE_FILE} in {d}: not a leadscore model bundle")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format_version") != FORMAT_VERSION:
                raise BundleError(f"{path}: unsupported bundle format {doc.get('format_version')!r}")
            pipeline = FeaturePipeline.from_dict(doc["pipeline"])
            targets = {}
            for tname, spec in doc["targets"].items():
                model_file = d / spec["model_file"]
                if not model_file.is_file():  # before LightGBM, which prints its own "Fatal"
                    raise BundleError(f"{model_file}: the LightGBM model file is missing")
                try:
                    booster = lgb.Booster(model_file=str(model_file))
                except lgb.basic.LightGBMError as e:
                    raise BundleError(f"{model_file}: cannot load the LightGBM model: {e}") from None
                if booster.feature_name() != pipeline.feature_names_:
                    raise BundleError(
                        f"{model_file}: the model's {booster.num_feature()} features do not match the "
                        f"feature pipeline's {len(pipeline.feature_names_)}"
                    )
                targets[tname] = TargetModel(tname, booster, Calibrator.from_dict(spec["calibrator"]))
            if not targets:
                raise BundleError(f"{path}: the bundle holds no model")
            return cls(
                pipeline=pipeline,
                targets=targets,
                score_quantiles=[float(q) for q in doc["score_quantiles"]],
                grade_min_scores={k: float(v) for k, v in doc["grade_min_scores"].items()},
                metadata=doc.get("metadata", {}),
                name=str(doc.get("metadata", {}).get("registered_model", name)) if name == "lead-scoring" else name,
                version=version if version != "unregistered" else str(doc.get("metadata", {}).get("version", version)),
            )
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
            raise BundleError(f"{path}: corrupt or incomplete bundle ({type(e).__name__}: {e})") from None

    # -- scoring -------------------------------------------------------------------------
    def predict_matrix(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated probabilities per target for a feature matrix (batch path)."""
        return {name: t.predict(X) for name, t in self.targets.items()}

    def score_of(self, p_qual: float) -> float:
        """Percentile (0–100) of a qualification probability among validation snapshots."""
        q = self.score_quantiles
        if p_qual <= q[0]:
            return 0.0
        if p_qual >= q[-1]:
            return 100.0
        i = bisect_right(q, p_qual)
        lo, hi = q[i - 1], q[i]
        frac = 0.0 if hi == lo else (p_qual - lo) / (hi - lo)
        return 100.0 * (i - 1 + frac) / (len(q) - 1)

    def grade_of(self, score: float) -> str:
        for g in GRADES[:-1]:
            if score >= self.grade_min_scores[g]:
                return g
        return GRADES[-1]

    def vector(self, lead: Mapping[str, Any], events: Sequence[Mapping[str, Any]], as_of: object) -> np.ndarray:
        return self.pipeline.transform_one(lead, events, as_of)

    def explainer(self) -> TreeExplainer:
        """Exact TreeSHAP of all targets' boosters (built on first use, then cached)."""
        ex = self.__dict__.get("_explainer")
        if ex is None:
            ex = TreeExplainer([t.booster for t in self.targets.values()])
            self.__dict__["_explainer"] = ex
        return ex

    def score_one(
        self,
        lead: Mapping[str, Any],
        events: Sequence[Mapping[str, Any]],
        as_of: object,
        reasons: bool = True,
        top: int = 3,
    ) -> dict[str, Any]:
        """Score one lead: probabilities, score, grade, action, sub-scores and reasons.

        The online feature path and the boosters on one numpy row, one thread. With
        reasons, the raw scores are the sums of the exact TreeSHAP contributions (the
        contributions add up to the model's margin), so the trees are walked once.
        """
        x = self.vector(lead, events, as_of)
        return self.score_vector(x, reasons=reasons, top=top)

    def score_vector(self, x: np.ndarray, reasons: bool = True, top: int = 3) -> dict[str, Any]:
        """:meth:`score_one` from a feature vector built by either feature path."""
        out: dict[str, Any] = {"model": {"name": self.name, "version": self.version}}
        if reasons:
            ex = self.explainer()
            contrib = ex.shap_one(x)
            w = ex.width
            for k, (name, tm) in enumerate(self.targets.items()):
                c = contrib[k * w: (k + 1) * w]
                # Boosters output the sigmoid of the margin; the calibrators take that.
                entry: dict[str, Any] = {"probability": tm.calibrator.predict_one(_sigmoid(float(c.sum())))}
                entry.update(self.explain(x, c, top))
                out[name] = entry
        else:
            for name, tm in self.targets.items():
                out[name] = {"probability": tm.calibrator.predict_one(tm.raw_one(x))}
        primary = "qualification" if "qualification" in self.targets else next(iter(self.targets))
        score = self.score_of(out[primary]["probability"])
        grade = self.grade_of(score)
        out.update(score=round(score, 1), grade=grade, action=ACTIONS[grade])
        return out

    def explain(self, x: np.ndarray, contrib: np.ndarray, top: int = 3) -> dict[str, Any]:
        """Top positive/negative reasons and fit/engagement sub-scores from contributions.

        ``contrib`` holds one contribution per feature and the expected value last (the
        layout of LightGBM's ``pred_contrib``). Sub-scores: the sigmoid of the summed
        contributions of each family (50 = no net effect).
        """
        fit_mask = self.__dict__.get("_fit_mask")
        if fit_mask is None:
            fit_mask = np.array([f.family == "fit" for f in self.pipeline.features_])
            self.__dict__["_fit_mask"] = fit_mask
        c = contrib[:-1]
        order = np.argsort(-c, kind="stable")
        pos = [int(i) for i in order[:top] if c[i] > 0]
        neg = [int(i) for i in order[::-1][:top] if c[i] < 0]
        return {
            "fit_score": round(100.0 * _sigmoid(float(c[fit_mask].sum())), 1),
            "engagement_score": round(100.0 * _sigmoid(float(c[~fit_mask].sum())), 1),
            "reasons": {
                "positive": [self._reason(i, x, c) for i in pos],
                "negative": [self._reason(i, x, c) for i in neg],
            },
        }

    def _reason(self, i: int, x: np.ndarray, c: np.ndarray) -> dict[str, Any]:
        f = self.pipeline.features_[i]
        return {"feature": f.name, "label": f.label, "value": self.display_value(i, float(x[i])), "contribution": round(float(c[i]), 4)}

    def display_value(self, i: int, value: float) -> str | float | None:
        f = self.pipeline.features_[i]
        if math.isnan(value):
            return None
        if f.categorical:
            cats = self.pipeline.category_maps_[f.name].categories
            return cats[int(value)]
        return float(value)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "targets": list(self.targets),
            "trained_at": self.metadata.get("trained_at"),
            "metrics": self.metadata.get("metrics", {}),
            "features": self.pipeline.describe(),
        }


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _json_default(o: object) -> object:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
