"""A minimal HTTP/1.1 keep-alive client for load benchmarks on 127.0.0.1 (see `LoopbackClient`)."""

from __future__ import annotations

import asyncio
import contextlib

HOST = "127.0.0.1"
MAX_CHUNKS = 10_000  # bounds on a response's chunks, trailers and reads: a broken server cannot hang us

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LoopbackClient:
    """A minimal HTTP/1.1 keep-alive client for POSTs to one port on 127.0.0.1.

    Why not httpx.AsyncClient: on this kind of machine it spends about 1.5 ms of client CPU per
    request, several times what the bare endpoint itself takes, which would swamp the baseline
    and flatter the triage / bare ratio. Requests are pre-serialised; at most `connections`
    are in flight, the others wait for a connection (that wait counts in their latency).
    """

    def __init__(self, port: int, connections: int) -> None:
        self.port = port
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[Connection] = []
        self._open: set[asyncio.StreamWriter] = set()

    def request(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        """The bytes of one POST of `body` with `headers` to `path`."""
        head = (f"POST {path} HTTP/1.1\r\nhost: {HOST}:{self.port}\r\n"
                f"content-length: {len(body)}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
        return head.encode("latin-1") + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Status and body of the response to `request`, on a pooled connection."""
        async with self._slots:
            for attempt in range(2):
                conn = self._take_idle()
                reused = conn is not None
                if conn is None:
                    conn = await asyncio.open_connection(HOST, self.port)
                    self._open.add(conn[1])
                try:
                    status, body, keep = await self._exchange(conn, request)
                except (ConnectionError, asyncio.IncompleteReadError):
                    self._close(conn)
                    if reused and attempt == 0:
                        continue  # the server closed an idle keep-alive connection: retry once
                    raise
                except BaseException:
                    self._close(conn)
                    raise
                if keep:
                    self._idle.append(conn)
                else:
                    self._close(conn)
                return status, body
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Close every connection."""
        for writer in list(self._open):
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._open.clear()
        self._idle.clear()

    def _take_idle(self) -> Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn[0].at_eof():
                return conn
            self._close(conn)
        return None

    def _close(self, conn: Connection) -> None:
        conn[1].close()
        self._open.discard(conn[1])

    @staticmethod
    async def _exchange(conn: Connection, request: bytes) -> tuple[int, bytes, bool]:
        reader, writer = conn
        writer.write(request)
        await writer.drain()
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close"
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return status, await _read_chunked(reader), keep
        if "content-length" in headers:
            return status, await reader.readexactly(int(headers["content-length"])), keep
        return status, await _read_to_eof(reader), False


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    for _ in range(MAX_CHUNKS):
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            for _ in range(MAX_CHUNKS):
                if await reader.readuntil(b"\r\n") == b"\r\n":
                    return bytes(body)
            break
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    raise ValueError("response has too many chunks or trailers")


async def _read_to_eof(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    for _ in range(MAX_CHUNKS):
        chunk = await reader.read(65536)
        if not chunk:
            return bytes(body)
        body += chunk
    raise ValueError("response body too long")
