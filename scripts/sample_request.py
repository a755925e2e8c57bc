"""Wait until the local scoring server is ready, then send it the sample lead and print the answer."""

from __future__ import annotations

import json
import sys
import time

import httpx

from serving.schemas import example_request

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
deadline = time.monotonic() + 180
with httpx.Client(base_url=url, timeout=10) as client:
    while True:
        try:
            if client.get("/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"the server at {url} did not become ready within 180 s")
        time.sleep(1)
    body = example_request()
    print(f"POST {url}/score\n{json.dumps(body, indent=2)}\n", file=sys.stderr)
    response = client.post("/score", json=body)
    response.raise_for_status()
    print(json.dumps(response.json(), indent=2))
