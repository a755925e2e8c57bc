"""Load and overload of the scoring service: capacity, sustained load, shedding, recovery.

One real ``leadscore serve`` (BentoML) on loopback, driven open-loop (requests are sent on
a fixed schedule, whether or not earlier ones have been answered; latency is measured from
the scheduled send time, so a stalled server cannot hide queueing) with one lead of 20
events per ``POST /score``:

1. **capacity**: rising rates, a few seconds each, until p99 reaches 25 ms or a request
   fails; ``max_rate_rps`` is the highest rate that kept p99 under 25 ms without errors;
2. **sustained**: 70% of it for 60 s — zero errors expected;
3. **overload**: 3× ``max_rate_rps`` for 30 s — the server must shed with 429/503
   (BentoML's ``max_concurrency`` and ``timeout``), stay up, and keep the p99 of the
   requests it accepts bounded (``overload_accepted_p99_ms`` from the moment a request is
   written on a connection, so it is the server's time; ``..._from_schedule_ms`` also
   counts the wait for a free connection in this client, which shares the 2 cores);
4. **recovery**: the sustained rate again right after; ``recovery_seconds`` is the time
   from the end of the overload to the first 0.5 s window from which on every window is
   normal (no error, p99 under 25 ms).

Bounded: at most ~3 minutes of load plus set-up; it stops by itself. Progress goes to
stderr; the last line on stdout is one JSON object with the figures. Run it alone on a
2-core machine (``flock /tmp/leadscore-bench.lock ...``)::

    python benchmarks/load.py --work /tmp/load-bench --train
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

from http_client import Client, post_request  # noqa: E402
from serving_helpers import exe, free_port, payload, stop, wait_ready  # noqa: E402

P99_TARGET_MS = 25.0
SHED_STATUSES = (429, 503)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Phase:
    """Results of one phase: per request, its scheduled time, latency and status (0: failed)."""

    sent_at: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)  # from the scheduled send time
    server_latency: list[float] = field(default_factory=list)  # from writing it on a connection
    status: list[int] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.asarray(self.sent_at), np.asarray(self.latency) * 1e3, np.asarray(self.status)

    def summary(self) -> dict[str, Any]:
        _, lat, st = self.arrays()
        ok = st == 200
        shed = np.isin(st, SHED_STATUSES)
        return {
            "requests": len(st),
            "ok": int(ok.sum()),
            "shed": int(shed.sum()),
            "errors": int((~ok & ~shed).sum()),
            "p50_ms": float(np.percentile(lat[ok], 50)) if ok.any() else None,
            "p99_ms": float(np.percentile(lat[ok], 99)) if ok.any() else None,
            "p99_all_ms": float(np.percentile(lat, 99)) if len(lat) else None,
            "p99_from_send_ms": float(np.percentile(np.asarray(self.server_latency)[ok] * 1e3, 99)) if ok.any() else None,
            "statuses": {int(k): int(v) for k, v in zip(*np.unique(st, return_counts=True), strict=True)},
        }


async def offer(client: Client, rate: float, seconds: float) -> Phase:
    """Send at ``rate`` per second for ``seconds`` on a fixed schedule; wait for every answer."""
    loop = asyncio.get_running_loop()
    phase = Phase()
    tasks: list[asyncio.Task[None]] = []
    total = int(rate * seconds)
    start = loop.time() + 0.01

    async def one(scheduled: float) -> None:
        status, written = await client.post()
        done = loop.time()
        phase.sent_at.append(scheduled - start)
        phase.latency.append(done - scheduled)
        phase.server_latency.append(done - written)
        phase.status.append(status)

    sent = 0
    gc.disable()  # the client's own collector pauses must not count as server latency
    while sent < total:
        now = loop.time()
        due = min(total, int((now - start) * rate) + 1)
        while sent < due:
            tasks.append(loop.create_task(one(start + sent / rate)))
            sent += 1
        await asyncio.sleep(0.0005)
    await asyncio.gather(*tasks)
    gc.enable()
    gc.collect()
    return phase


def window_recovery(phase: Phase, window: float = 0.5) -> float | None:
    """Seconds from the phase start to the first window from which on every window is normal."""
    t, lat, st = phase.arrays()
    if not len(t):
        return None
    edges = np.arange(0.0, t.max() + window, window)
    normal = []
    for lo in edges:
        sel = (t >= lo) & (t < lo + window)
        if not sel.any():
            normal.append(True)
            continue
        normal.append(bool((st[sel] == 200).all() and np.percentile(lat[sel], 99) < P99_TARGET_MS))
    for i in range(len(normal)):
        if all(normal[i:]):
            return float(edges[i])
    return None


async def alive(host: str, port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /livez HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        return int(head[9:12]) == 200
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
        return False


async def run_load(host: str, port: int, body: bytes, args: argparse.Namespace) -> dict[str, Any]:
    client = Client(host, port, post_request(host, port, "/score", body))
    await offer(client, 50, 2)  # warm up connections and the server

    # 1. capacity: geometric steps, then a bisection between the last pass and the first fail.
    passing, failing = 0.0, None
    rate = args.start_rate
    steps = []
    while rate <= args.max_rate and len(steps) < 14:
        s = (await offer(client, rate, args.step_seconds)).summary()
        ok = s["errors"] == 0 and s["shed"] == 0 and s["p99_all_ms"] < P99_TARGET_MS
        steps.append({"rate": rate, **{k: s[k] for k in ("p50_ms", "p99_all_ms", "shed", "errors")}})
        log(f"capacity: {rate:7.0f} req/s  p50 {s['p50_ms']:.1f} ms  p99 {s['p99_all_ms']:.1f} ms  shed {s['shed']}  errors {s['errors']}  {'ok' if ok else 'over'}")
        await asyncio.sleep(1.0)
        if ok:
            passing = rate
            if failing is not None and failing / rate < 1.06:
                break
            rate = rate * 1.3 if failing is None else (rate + failing) / 2
        else:
            failing = rate
            if passing == 0 or rate / passing < 1.06:
                break
            rate = (passing + rate) / 2
    if passing == 0:
        raise SystemExit("no rate kept p99 under 25 ms; is the server healthy?")
    max_rate = passing

    # 2. sustained: 70% for 60 s.
    sustained_rate = 0.7 * max_rate
    log(f"sustained: {sustained_rate:.0f} req/s for {args.sustain_seconds:.0f} s")
    sustained = (await offer(client, sustained_rate, args.sustain_seconds)).summary()
    log(f"sustained: {sustained}")

    # 3. overload: 3× the highest sustainable rate for 30 s, then 4. recovery at once.
    overload_rate = 3 * max_rate
    log(f"overload: {overload_rate:.0f} req/s for {args.overload_seconds:.0f} s")
    overload_task = asyncio.ensure_future(offer(client, overload_rate, args.overload_seconds))
    await asyncio.sleep(args.overload_seconds / 2)
    up_during = await alive(host, port)
    overload = await overload_task
    o = overload.summary()
    log(f"overload: {o}; alive during overload: {up_during}")
    recovery = await offer(client, sustained_rate, args.recovery_seconds)
    r = recovery.summary()
    recovered_at = window_recovery(recovery)
    up_after = await alive(host, port)
    log(f"recovery: {r}; normal from {recovered_at} s after the overload; alive after: {up_after}")
    await client.close()
    return {
        "max_rate_rps": round(max_rate, 1),
        "sustained_rps": round(sustained["requests"] / args.sustain_seconds, 1),
        "sustained_seconds": args.sustain_seconds,
        "sustained_errors": sustained["errors"] + sustained["shed"],
        "sustained_p50_ms": sustained["p50_ms"],
        "sustained_p99_ms": sustained["p99_all_ms"],
        "sustained_p99_from_send_ms": sustained["p99_from_send_ms"],
        "overload_offered_rps": round(overload_rate, 1),
        "overload_requests": o["requests"],
        "overload_accepted": o["ok"],
        "overload_accepted_p99_ms": o["p99_from_send_ms"],
        "overload_accepted_p99_from_schedule_ms": o["p99_ms"],
        "overload_shed_share": round(o["shed"] / max(o["requests"], 1), 4),
        "overload_other_errors": o["errors"],
        "alive_during_overload": up_during,
        "alive_after": up_after,
        "recovery_seconds": recovered_at,
        "recovery_errors": r["errors"] + r["shed"],
        "capacity_steps": steps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=None, help="Directory with mlflow.db (default: a new temporary one).")
    ap.add_argument("--train", action="store_true", help="Generate data and train a model in --work first.")
    ap.add_argument("--leads", type=int, default=3000, help="Leads to generate with --train.")
    ap.add_argument("--model", default="models:/lead-scoring@champion")
    ap.add_argument("--max-concurrency", type=int, default=None, help="LEADSCORE_MAX_CONCURRENCY for the server (default: the service's).")
    ap.add_argument("--timeout", type=float, default=None, help="LEADSCORE_TIMEOUT for the server, seconds (default: the service's).")
    ap.add_argument("--start-rate", type=float, default=100.0)
    ap.add_argument("--max-rate", type=float, default=5000.0)
    ap.add_argument("--step-seconds", type=float, default=4.0)
    ap.add_argument("--sustain-seconds", type=float, default=60.0)
    ap.add_argument("--overload-seconds", type=float, default=30.0)
    ap.add_argument("--recovery-seconds", type=float, default=10.0)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="leadscore-load-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "BENTOML_HOME": str(work / "bentoml"),
           "BENTOML_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}
    for name, value in (("LEADSCORE_MAX_CONCURRENCY", args.max_concurrency), ("LEADSCORE_TIMEOUT", args.timeout)):
        if value is not None:
            env[name] = str(value)
    leadscore = exe("leadscore")
    if args.train or not (work / "mlflow.db").exists():
        log("generating data and training a model")
        subprocess.run([leadscore, "generate", "--leads", str(args.leads), "--out", str(work / "data")], check=True, env=env, cwd=work, stdout=subprocess.DEVNULL)
        subprocess.run([leadscore, "train", "--data", str(work / "data")], check=True, env=env, cwd=work, stdout=subprocess.DEVNULL)
    port = free_port()
    server_log = open(work / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([leadscore, "serve", "--model", args.model, "--port", str(port)], env=env, cwd=work,
                            stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.monotonic()
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, timeout=120)
        log(f"server ready on port {port}")
        results = asyncio.run(run_load("127.0.0.1", port, json.dumps(payload(20)).encode(), args))
        results["server_exited"] = proc.poll() is not None
    finally:
        stop(proc)
        server_log.close()
    results["seconds"] = round(time.monotonic() - t0, 1)
    results["traffic"] = {k: env.get(k) for k in ("LEADSCORE_MAX_CONCURRENCY", "LEADSCORE_TIMEOUT")}
    results["targets"] = {
        "sustained_errors == 0": results["sustained_errors"] == 0,
        "sustained_p99_ms < 25": results["sustained_p99_ms"] is not None and results["sustained_p99_ms"] < P99_TARGET_MS,
        "overload shed with 429/503": results["overload_shed_share"] > 0 and results["overload_other_errors"] == 0,
        "alive during and after overload": results["alive_during_overload"] and results["alive_after"] and not results["server_exited"],
        "recovery_seconds <= 5": results["recovery_seconds"] is not None and results["recovery_seconds"] <= 5,
    }
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in results.items()}))


if __name__ == "__main__":
    main()
