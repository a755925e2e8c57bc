"""Session fixtures shared by the serving, fuzzing, fault and security tests.

``world``: one small model trained and registered once per session in a temporary SQLite
tracking store and BentoML home, with API requests built from its data; ``bundle``: that
model's bundle; ``bento_model``: the model imported into the BentoML store; ``client``: the
service through its ASGI app (one per process: BentoML registers its metrics globally).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from serving_helpers import lead_request

N_LEADS = 3000
N_CHECK = 25


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from features.contract import load_tables
    from features.generate import generate, write_dataset
    from features.identity import resolve_identities
    from features.snapshots import observed_until
    from training.config import load_config
    from training.train import run

    root = tmp_path_factory.mktemp("serving")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        mp.setenv("BENTOML_HOME", str(root / "bentoml"))
        mp.setenv("BENTOML_DO_NOT_TRACK", "true")
        mp.chdir(root)
        tables, oracle = generate(N_LEADS, seed=11)
        write_dataset(tables, oracle, root / "data")
        config = load_config(None, {"lightgbm.max_rounds": 150})
        summary = run(root / "data", config)
        tables = load_tables(root / "data")
        identity = resolve_identities(tables)
        until = observed_until(tables)
        n_events = tables.events["identifier"].value_counts()
        rng = np.random.default_rng(3)
        # Leads with many events first (they exercise the engagement features), then any.
        busy = np.flatnonzero(tables.leads["lead_id"].map(n_events).fillna(0).to_numpy() > 3)
        picks = np.unique(np.concatenate([rng.choice(busy, N_CHECK // 2, replace=False), rng.choice(N_LEADS, N_CHECK // 2, replace=False)]))
        requests = [lead_request(tables, identity, int(i), until) for i in picks]
        yield {"root": root, "summary": summary, "uri": summary["model_uri"], "version": summary["version"], "requests": requests, "tables": tables,
               "tracking_uri": f"sqlite:///{root}/mlflow.db"}


def use_world_store(world: dict[str, Any]) -> None:
    """Point MLflow's process-wide URIs at the session's store (other tests move them)."""
    import mlflow

    mlflow.set_tracking_uri(world["tracking_uri"])
    mlflow.set_registry_uri(world["tracking_uri"])


@pytest.fixture(autouse=True)
def _world_store(request: pytest.FixtureRequest) -> None:
    if "world" in request.fixturenames:
        world = request.getfixturevalue("world")
        if isinstance(world, dict) and "tracking_uri" in world:  # not test_features' own world
            use_world_store(world)


@pytest.fixture(scope="session")
def bundle(world: dict[str, Any]) -> Any:
    from training.registry import load_bundle

    use_world_store(world)
    return load_bundle(world["uri"])


@pytest.fixture(scope="session")
def bento_model(world: dict[str, Any]) -> str:
    import bentoml

    use_world_store(world)
    m = bentoml.mlflow.import_model(
        "lead-scoring", world["uri"], labels={"registered_model": "lead-scoring", "registered_version": world["version"]}
    )
    return str(m.tag)


@pytest.fixture(scope="session")
def client(world: dict[str, Any], bento_model: str) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from serving.service import LeadScoring

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADSCORE_MAX_BATCH", "50")
        # The class-level BentoModel resolves "lead-scoring:latest": the model just imported.
        with TestClient(LeadScoring.to_asgi()) as c:
            yield c
