"""A small keep-alive HTTP/1.1 client on asyncio streams, for the benchmarks.

It sends one fixed request (method, headers and body as bytes) over a pool of kept-alive
connections and reads status and body: far less client CPU per request than httpx, which
matters when client and server share a 2-core machine.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

MAX_CONNECTIONS = 512
MAX_IDLE = 64  # kept-alive connections beyond this are closed when released (like httpx's pool)
KEEPALIVE_EXPIRY = 4.0  # seconds; uvicorn closes idle connections after 5


class Client:
    """A small keep-alive HTTP/1.1 client on asyncio streams (far cheaper per request than httpx)."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.idle_since: dict[asyncio.StreamWriter, float] = {}
        self.open = 0
        self.freed = asyncio.Event()

    async def connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            while self.idle:
                conn = self.idle.pop()
                # Like any pooling client: no reuse of a connection the server may have closed.
                if time.monotonic() - self.idle_since.pop(conn[1]) < KEEPALIVE_EXPIRY:
                    return conn
                conn[1].close()
                self.open -= 1
            if self.open < MAX_CONNECTIONS:
                self.open += 1
                try:
                    return await asyncio.open_connection(self.host, self.port)
                except OSError:
                    self.open -= 1
                    raise
            self.freed.clear()
            await self.freed.wait()

    def release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        if conn is not None and len(self.idle) >= MAX_IDLE:
            conn[1].close()
            conn = None
        if conn is None:
            self.open -= 1
        else:
            self.idle.append(conn)
            self.idle_since[conn[1]] = time.monotonic()
        self.freed.set()

    async def post(self) -> tuple[int, float]:
        """(status, when the request was written); status 0 if it failed."""
        for _ in range(2):
            reused = bool(self.idle)
            status, written = await self.post_once()
            # A kept-alive connection the server closed while idle: retry once on a new one.
            if status != -1 or not reused:
                return max(status, 0), written
        return 0, written

    async def post_once(self) -> tuple[int, float]:
        """Status of one request; 0 if it failed, -1 if the connection was closed before any answer."""
        conn = None
        head = b""
        written = asyncio.get_running_loop().time()
        try:
            conn = await self.connection()
            reader, writer = conn
            written = asyncio.get_running_loop().time()
            writer.write(self.request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            await reader.readexactly(length)
            if close:
                writer.close()
                self.release(None)
                conn = None
                return status, written
            self.release(conn)
            conn = None
            return status, written
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            if conn is not None:
                conn[1].close()
                self.release(None)
            if not head and not (isinstance(e, asyncio.IncompleteReadError) and e.partial):
                return -1, written  # nothing came back: the connection was dead before this request
            return 0, written

    async def close(self) -> None:
        while self.idle:
            _, writer = self.idle.pop()
            writer.close()


def post_request(host: str, port: int, path: str, body: bytes) -> bytes:
    """The bytes of one ``POST path`` of a JSON ``body``."""
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body
