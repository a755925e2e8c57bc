"""The model registry: ``challenger`` and ``champion`` aliases, the promotion gate, rollback.

Stages are deprecated in MLflow; only aliases are used. The history of champions is kept
as the registered model's tag ``leadscore.champion_history`` (comma-separated versions),
so ``rollback`` knows where to go back to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from features.contract import Tables, UserError
from training.bundle import ModelBundle
from training.config import TrainConfig

log = logging.getLogger(__name__)
HISTORY_TAG = "leadscore.champion_history"


def client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def load_bundle(model_uri: str) -> ModelBundle:
    """The bundle inside a logged/registered pyfunc model (``models:/lead-scoring@champion``)."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri)
    bundle: ModelBundle = model.unwrap_python_model().bundle
    # A registry URI names the model; answers then carry that name and version.
    if model_uri.startswith("models:/"):
        ref = model_uri.removeprefix("models:/")
        if "@" in ref:
            name, alias = ref.split("@", 1)
            version = alias_version(name, alias)
        else:
            name, _, version = ref.partition("/")
        bundle.name = name
        if version and version.isdigit():
            bundle.version = version
    return bundle


def alias_version(name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def next_version(name: str) -> str:
    """The version number the registry will give the next model of ``name``."""
    versions = client().search_model_versions(f"name='{name}'")
    return str(max((int(v.version) for v in versions), default=0) + 1)


def _history(name: str) -> list[str]:
    tags = client().get_registered_model(name).tags
    raw = tags.get(HISTORY_TAG, "")
    return [v for v in raw.split(",") if v]


def set_champion(name: str, version: str, reason: str) -> None:
    c = client()
    current = alias_version(name, "champion")
    history = _history(name)
    if current != version:
        if current is not None and (not history or history[-1] != current):
            history.append(current)
        history.append(version)
    c.set_registered_model_alias(name, "champion", version)
    c.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    c.set_model_version_tag(name, version, "leadscore.promotion_reason", reason)


def rollback(name: str) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion. Returns (from, to)."""
    c = client()
    current = alias_version(name, "champion")
    if current is None:
        raise UserError(f"model {name!r} has no champion to roll back from")
    history = _history(name)
    while history and history[-1] == current:
        history.pop()
    if not history:
        raise UserError(f"model {name!r}: version {current} is the first champion; there is nothing to roll back to")
    previous = history[-1]
    c.set_registered_model_alias(name, "champion", previous)
    c.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    c.set_model_version_tag(name, current, "leadscore.rolled_back", "true")
    return current, previous


def gate_and_alias(
    config: TrainConfig,
    version: str,
    result: Any,
    tables: Tables,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Give ``version`` the challenger alias; promote it if it passes the gate."""
    from training.train import evaluate_bundle

    name = config.registered_model
    c = client()
    champion = alias_version(name, "champion")
    challenger_metrics = result.metrics
    decision: dict[str, Any] = {"challenger": version, "champion_before": champion}
    if champion is None:
        decision.update(decision="promoted", reason="first model: no champion yet")
    else:
        progress(f"evaluating champion version {champion} on the same holdout")
        champ_bundle = load_bundle(f"models:/{name}/{champion}")
        champ_metrics = evaluate_bundle(
            champ_bundle, tables, result.snapshots, {t: sp.test for t, sp in result.splits.items()}
        )
        passed, checks = gate(challenger_metrics, champ_metrics, config)
        decision.update(
            decision="promoted" if passed else "rejected",
            reason="passed the gate" if passed else "failed: " + "; ".join(ch for ch, ok in checks.items() if not ok),
            checks=checks,
            champion_metrics={t: {k: m[k] for k in ("roc_auc", "ece")} for t, m in champ_metrics.items()},
        )
    decision["challenger_metrics"] = {t: {k: m[k] for k in ("roc_auc", "ece")} for t, m in challenger_metrics.items()}
    tags = {
        "leadscore.gate.decision": decision["decision"],
        "leadscore.gate.reason": decision["reason"],
        "leadscore.gate.champion_before": str(champion),
        "leadscore.gate.figures": json.dumps({k: decision[k] for k in decision if k.endswith("metrics")}),
    }
    for k, v in tags.items():
        c.set_model_version_tag(name, version, k, v)
    c.set_registered_model_alias(name, "challenger", version)
    if decision["decision"] == "promoted":
        set_champion(name, version, f"gate: {decision['reason']}")
    progress(f"gate: version {version} {decision['decision']} ({decision['reason']})")
    return decision


def gate(
    challenger: dict[str, dict[str, float]], champion: dict[str, dict[str, float]], config: TrainConfig
) -> tuple[bool, dict[str, bool]]:
    """AUC no worse than the champion's by more than ``max_auc_drop``; ECE ≤ ``max_ece``."""
    g = config.gate
    checks: dict[str, bool] = {}
    for t, m in challenger.items():
        champ_auc = champion.get(t, {}).get("roc_auc", -np.inf)
        checks[f"{t} AUC {m['roc_auc']:.4f} ≥ champion {champ_auc:.4f} − {g.max_auc_drop}"] = bool(
            m["roc_auc"] >= champ_auc - g.max_auc_drop
        )
        checks[f"{t} ECE {m['ece']:.4f} ≤ {g.max_ece}"] = bool(m["ece"] <= g.max_ece)
    return all(checks.values()), checks
