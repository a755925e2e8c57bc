"""Helpers for the serving tests and benchmark: a small registered model, API requests from tables."""

from __future__ import annotations

import contextlib
import math
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract import Tables
from features.identity import IdentityMap

EVENT_FIELDS = ("timestamp", "event_type", "identifier", "channel", "device_type", "properties")
LEAD_FIELDS = (
    "lead_id", "created_at", "email", "job_title", "company_name", "company_domain", "company_size",
    "industry", "country", "source_channel", "campaign", "acquisition_cost",
)


def _plain(v: Any) -> Any:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    return v


def lead_request(tables: Tables, identity: IdentityMap, lead: int, as_of: pd.Timestamp) -> dict[str, Any]:
    """The API request an application would send for one lead: attributes and its events."""
    row = tables.leads.iloc[lead]
    req = {k: _plain(row[k]) for k in LEAD_FIELDS if k in row.index}
    mine = identity.events_for(tables.events, lead, as_of)
    cols = [c for c in EVENT_FIELDS if c in mine.columns]
    req["events"] = [{c: _plain(v) for c, v in zip(cols, r, strict=True)} for r in mine[cols].itertuples(index=False)]
    req["as_of"] = pd.Timestamp(as_of).isoformat()
    return req


def payload(n_events: int = 20) -> dict[str, Any]:
    """The benchmarks' request: the example lead with ``n_events`` events over three weeks."""
    from serving.schemas import example_request

    req = example_request()
    base = datetime(2024, 4, 10, 9, 0)
    kinds = ["page_view", "email_open", "pricing_page_view", "email_click", "content_download",
             "webinar_registered", "page_view", "demo_request", "page_view", "webinar_attended"]
    req["events"] = [
        {
            "timestamp": (base + timedelta(hours=19 * i)).isoformat(),
            "event_type": kinds[i % len(kinds)],
            "identifier": "ck_example" if i % 3 else "jane.doe@northwind-analytics.com",
            "channel": "email" if "email" in kinds[i % len(kinds)] else "web",
            "device_type": "desktop",
            "properties": "/page",
        }
        for i in range(n_events)
    ]
    return req


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[Any] | None, timeout: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s")


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a server started with ``start_new_session=True`` (the whole process group)."""
    import os
    import signal

    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def exe(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@contextlib.contextmanager
def bentoml_server(
    model_tag: str, cwd: Path, log: Path, env: dict[str, str] | None = None, timeout: float = 90.0
) -> Any:
    """A real ``bentoml serve`` of the service on a free loopback port; yields its base URL.

    Its output goes to ``log`` (the service's log, for tests that read it); it is stopped on exit.
    """
    import os

    port = free_port()
    full_env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "LEADSCORE_BENTO_MODEL": model_tag, **(env or {})}
    cmd = [exe("bentoml"), "serve", "serving.service:LeadScoring", "--host", "127.0.0.1", "--port", str(port)]
    repo = Path(__file__).resolve().parent.parent
    full_env["PYTHONPATH"] = f"{repo}{os.pathsep}{full_env.get('PYTHONPATH', '')}"
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/readyz", proc, timeout)
            yield base
        finally:
            stop(proc)
