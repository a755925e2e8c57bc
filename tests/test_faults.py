"""Faults: broken models, a tracking server that goes away, SIGTERM mid-training, full disks.

Real components throughout: ``bentoml serve`` on a damaged copy of the session's model, a
real ``mlflow server`` that is killed while ``leadscore train`` runs, a real SIGTERM to a
training process, and a file size limit set by the kernel (``RLIMIT_FSIZE``) under
``leadscore score``.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serving_helpers import exe, free_port, stop, wait_ready

from training.bundle import BundleError, ModelBundle

QUICK = ["--set", "lightgbm.max_rounds=80", "--set", "lightgbm.early_stopping_rounds=20"]


# --- a model that cannot be served -------------------------------------------------------------


def _corrupt_json(d: Path) -> None:
    (d / "bundle.json").write_text('{"format_version": 1, "pipeline": ', encoding="utf-8")


def _missing_booster(d: Path) -> None:
    (d / "qualification.txt").unlink()


def _mismatched_features(d: Path) -> None:
    model = d / "qualification.txt"
    text = model.read_text(encoding="utf-8")
    line = re.search(r"^feature_names=(.*)$", text, re.M)
    assert line is not None
    names = line.group(1).split(" ")
    model.write_text(text.replace(line.group(0), "feature_names=" + " ".join(names[1:] + names[:1]), 1), encoding="utf-8")


BREAKAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "corrupt": (_corrupt_json, "corrupt or incomplete bundle"),
    "missing": (_missing_booster, "the LightGBM model file is missing"),
    "mismatch": (_mismatched_features, "do not match the feature pipeline"),
}


@pytest.fixture(scope="module")
def broken_models(world: dict[str, Any]) -> dict[str, str]:
    """One damaged copy of the session's model per kind of damage, in the BentoML store."""
    import bentoml
    from conftest import use_world_store

    from serving.service import bundle_dir

    use_world_store(world)  # module fixtures run before the per-test one that does this
    tags = {}
    for kind, (damage, _) in BREAKAGES.items():
        tag = str(bentoml.mlflow.import_model(f"broken-{kind}", world["uri"]).tag)
        damage(bundle_dir(bentoml.models.get(tag).path))  # the stored copy
        tags[kind] = tag
    return tags


@pytest.mark.parametrize("kind", list(BREAKAGES))
def test_bundle_damage_is_refused_at_load(broken_models: dict[str, str], kind: str) -> None:
    import bentoml

    from serving.service import bundle_dir

    with pytest.raises(BundleError, match=BREAKAGES[kind][1]):
        ModelBundle.load(bundle_dir(bentoml.models.get(broken_models[kind]).path))


def _serve_until_exit(tag: str, cwd: Path, timeout: float = 90) -> tuple[int, str, list[int]]:
    """Start ``bentoml serve`` on ``tag``; poll /readyz until the process ends."""
    import httpx

    port = free_port()
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "LEADSCORE_BENTO_MODEL": tag}
    proc = subprocess.Popen([exe("bentoml"), "serve", "serving.service:LeadScoring", "--port", str(port)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    statuses = []
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                statuses.append(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code)
            except httpx.HTTPError:
                statuses.append(0)
            time.sleep(0.2)
    finally:
        running = proc.poll() is None
        stop(proc)
    assert not running, "the server did not stop by itself"
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    return proc.returncode, out, statuses


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(BREAKAGES))
def test_service_refuses_to_start_on_a_bad_model(world: dict[str, Any], broken_models: dict[str, str], kind: str) -> None:
    code, out, statuses = _serve_until_exit(broken_models[kind], world["root"])
    assert code != 0
    assert 200 not in statuses  # readiness never turned true
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out  # one clear message, no restart loop of stack traces
    assert lines[0].startswith("leadscore: refusing to start:") and BREAKAGES[kind][1] in lines[0]


def test_service_refuses_to_start_without_its_model(world: dict[str, Any]) -> None:
    code, out, statuses = _serve_until_exit("no-such-model:latest", world["root"])
    assert code != 0 and 200 not in statuses
    assert "Traceback" not in out and "no-such-model:latest could not be found" in out


def test_service_refuses_to_start_with_a_bad_key_setting(world: dict[str, Any], bento_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_API_KEY", "short")
    code, out, statuses = _serve_until_exit(bento_model, world["root"])
    assert code != 0 and 200 not in statuses
    assert out.strip().splitlines() == ["leadscore: refusing to start: the API key must be at least 16 characters long"]


@pytest.mark.parametrize(("name", "value", "what"), [
    ("LEADSCORE_TIMEOUT", "0", "number"),
    ("LEADSCORE_TIMEOUT", "soon", "number"),
    ("LEADSCORE_TIMEOUT", "1e999", "number"),
    ("LEADSCORE_MAX_CONCURRENCY", "-3", "whole number"),
])
def test_service_refuses_to_start_with_a_bad_traffic_setting(
    world: dict[str, Any], bento_model: str, monkeypatch: pytest.MonkeyPatch, name: str, value: str, what: str
) -> None:
    monkeypatch.setenv(name, value)
    code, out, statuses = _serve_until_exit(bento_model, world["root"])
    assert code != 0 and 200 not in statuses
    assert f"leadscore: refusing to start: {name} must be a positive {what}, got {value!r}" in out
    assert "Traceback" not in out


def test_service_refuses_to_start_with_a_bad_batch_setting(world: dict[str, Any], bento_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_MAX_BATCH", "lots")
    code, out, statuses = _serve_until_exit(bento_model, world["root"])
    assert code != 0 and 200 not in statuses
    assert out.strip().splitlines() == ["leadscore: refusing to start: LEADSCORE_MAX_BATCH must be a whole number of leads, got 'lots'"]


# --- training against a tracking store that fails ------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Data and a SQLite tracking store whose registry already has a champion (version 1)."""
    from features.generate import generate, write_dataset

    root = tmp_path_factory.mktemp("faults")
    tables, oracle = generate(2000, seed=21)
    write_dataset(tables, oracle, root / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{root}/mlflow.db", PYTHONUNBUFFERED="1")
    first = subprocess.run([exe("leadscore"), "train", "--data", str(root / "data"), *QUICK], cwd=root, env=env,
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    yield {"root": root, "env": env}


def _registry_state(db: str) -> dict[str, Any]:
    """Aliases, versions and run statuses read straight from the tracking database."""
    import sqlite3

    with sqlite3.connect(db) as con:
        aliases = dict(con.execute("select alias, version from registered_model_aliases").fetchall())
        versions = [v for (v,) in con.execute("select version from model_versions order by version")]
        runs = con.execute("select status from runs r join tags t on t.run_uuid = r.run_uuid "
                           "where t.key = 'leadscore.role' and t.value = 'model' order by start_time").fetchall()
    return {"aliases": {k: str(v) for k, v in aliases.items()}, "versions": versions, "statuses": [s for (s,) in runs]}


def _train_until(env: dict[str, str], root: Path, marker: str, then: Callable[[subprocess.Popen[str]], None]) -> tuple[int, str]:
    """Run ``leadscore train``; when ``marker`` appears in its progress, call ``then``."""
    proc = subprocess.Popen([exe("leadscore"), "train", "--data", str(root / "data"), *QUICK], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    err = []
    try:
        for line in proc.stderr:
            err.append(line)
            if marker in line:
                then(proc)
                break
        err += proc.stderr.readlines()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(err)


@pytest.mark.slow
def test_sigterm_mid_training_marks_the_run_failed(trained: dict[str, Any]) -> None:
    root, db = trained["root"], str(trained["root"] / "mlflow.db")
    before = _registry_state(db)
    assert before["aliases"]["champion"] == "1"
    code, err = _train_until(trained["env"], root, "training qualification model", lambda p: p.send_signal(signal.SIGTERM))
    assert code != 0 and "Traceback" not in err, err[-2000:]
    after = _registry_state(db)
    assert after["statuses"][-1] == "FAILED"
    assert after["aliases"] == before["aliases"] and after["versions"] == before["versions"]


@pytest.mark.slow
def test_tracking_server_gone_mid_training(trained: dict[str, Any]) -> None:
    root, db = trained["root"], str(trained["root"] / "mlflow.db")
    before = _registry_state(db)
    port = free_port()
    server_cmd = [exe("mlflow"), "server", "--backend-store-uri", f"sqlite:///{db}", "--default-artifact-root", str(root / "mlruns"),
                  "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {**trained["env"], "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(server_cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", server, timeout=120)
        client_env = {**trained["env"], "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}",
                      "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
        code, err = _train_until(client_env, root, "training qualification model", lambda _: stop(server))
    finally:
        stop(server)
    assert code == 2, err[-3000:]
    assert "Traceback" not in err
    assert f"the MLflow tracking server at http://127.0.0.1:{port} is unreachable" in err
    after = _registry_state(db)
    assert after["aliases"] == before["aliases"] and after["versions"] == before["versions"]


def test_tracking_server_unreachable_from_the_start(trained: dict[str, Any]) -> None:
    env = {**trained["env"], "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    proc = subprocess.run([exe("leadscore"), "train", "--data", str(trained["root"] / "data"), *QUICK], cwd=trained["root"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "tracking server" in proc.stderr and "unreachable" in proc.stderr


# --- batch scoring to a disk that fills up or cannot be written ------------------------------------


def _score(trained: dict[str, Any], out: Path, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # type: ignore[arg-type]

    return subprocess.run(
        [exe("leadscore"), "score", "--model", "models:/lead-scoring/1", "--data", str(trained["root"] / "data"), "--out", str(out), "--reasons"],
        cwd=trained["root"], env=trained["env"], capture_output=True, text=True, timeout=300,
        preexec_fn=limit_file_size if limit is not None else None,
    )


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_disk_full_during_score_leaves_no_output(trained: dict[str, Any], tmp_path: Path, suffix: str) -> None:
    complete = _score(trained, tmp_path / f"complete{suffix}")
    assert complete.returncode == 0, complete.stderr[-2000:]
    size = (tmp_path / f"complete{suffix}").stat().st_size
    out = tmp_path / "full" / f"scores{suffix}"
    out.parent.mkdir()
    # The kernel refuses to grow any file past half the output's size: the disk is "full".
    failed = _score(trained, out, limit=max(size // 2, 200_000))
    assert failed.returncode == 2, failed.stderr[-2000:]
    assert "Traceback" not in failed.stderr
    message = failed.stderr.strip().splitlines()[-1]
    assert message.startswith(f"error: cannot write {out}:") and "File too large" in message and message.endswith("nothing was written")
    assert list(out.parent.iterdir()) == []  # neither the output nor its temporary file


@pytest.fixture()
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "read-only"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o500)
        yield d
        d.chmod(0o700)
        return
    # root writes anywhere it may: a read-only file system is what stops it.
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a read-only directory here (root without mount)")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


def test_unwritable_output_is_refused_before_scoring(trained: dict[str, Any], read_only_dir: Path) -> None:
    out = read_only_dir / "scores.parquet"
    proc = _score(trained, out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"output directory is not writable: {read_only_dir}" in proc.stderr
    assert "scored:" not in proc.stderr  # refused before the leads were scored
    assert list(read_only_dir.iterdir()) == []
