"""Load generator of `make bench-submit`: raw HTTP/1.1 over asyncio streams, without Django.

It runs in a process of its own and shares the machine's cores with the server it measures, so
it does as little as it can per request: one prebuilt request per cookie, no HTTP library, no
redirect following. Usage: `python -m bench.load CONFIG.json`; the result is JSON on stdout.

Each client takes the next unused survey cookie, POSTs one complete answer set and counts the
response: a redirect to the thanks page is accepted, anything else (another status, a reset
connection, a timeout) is an error. Clients reuse their connection when the server keeps it open
and reconnect when it closes it (gunicorn's sync workers close every connection).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Config:
    host: str
    port: int
    path: str
    seconds: float
    warmup: float
    clients: int
    timeout: float
    csrf: str
    bodies: list[str]
    cookies_file: str
    accepted_location: str
    reuse_cookies: bool


@dataclass
class Tally:
    accepted_ids: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    measure: bool = False

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Jobs:
    """Hands out (invitation id, prebuilt request) pairs; each cookie is used once unless
    `reuse_cookies` (for a view that does not look at the cookie)."""

    def __init__(self, config: Config, cookies: list[tuple[int, str]]) -> None:
        self.config = config
        self.cookies = cookies
        self.position = 0
        self.heads = []
        self.exhausted = False
        for body in config.bodies:
            raw = body.encode("ascii")
            head = (
                f"POST {config.path} HTTP/1.1\r\n"
                f"Host: {config.host}:{config.port}\r\n"
                f"Origin: http://{config.host}:{config.port}\r\n"
                "User-Agent: plimsoll-bench\r\n"
                "Accept: text/html\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(raw)}\r\n"
                f"Cookie: csrftoken={config.csrf}; plimsoll_survey="
            )
            self.heads.append((head.encode("ascii"), b"\r\n\r\n" + raw))

    def next(self) -> tuple[int, bytes] | None:
        if self.position >= len(self.cookies) and not self.config.reuse_cookies:
            self.exhausted = True
            return None
        invitation_id, cookie = self.cookies[self.position % len(self.cookies)]
        head, tail = self.heads[self.position % len(self.heads)]
        self.position += 1
        return invitation_id, head + cookie.encode("ascii") + tail


async def read_response(reader: asyncio.StreamReader) -> tuple[int, str, bool]:
    """Status, Location and whether the server closes the connection; the body is discarded."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    close = version == "HTTP/1.0"
    length: int | None = None
    chunked = False
    location = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            close = "close" in value.lower()
        elif name == "location":
            location = value
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            await reader.readexactly(size + 2)
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()
        close = True
    return int(status), location, close


async def client(config: Config, jobs: Jobs, tally: Tally, deadline: float) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < deadline:
        job = jobs.next()
        if job is None:
            break
        invitation_id, request = job
        started = time.perf_counter()
        close = True
        try:
            async with asyncio.timeout(config.timeout):
                if writer is None:
                    reader, writer = await asyncio.open_connection(config.host, config.port)
                writer.write(request)
                status, location, close = await read_response(reader)
        except TimeoutError:
            tally.error("timeout")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            tally.error(type(exc).__name__)
        except ValueError:
            tally.error("bad response")
        else:
            if status in (302, 303) and location.startswith(config.accepted_location):
                tally.accepted_ids.append(invitation_id)
                if tally.measure:
                    tally.latencies.append(time.perf_counter() - started)
            else:
                tally.error(str(status))
        if close and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def run_phase(config: Config, jobs: Jobs, tally: Tally, seconds: float) -> float:
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(client(config, jobs, tally, deadline) for _ in range(config.clients)))
    # Requests still running at the deadline are waited for and counted, so the rate divides by
    # the time until the last one finished.
    return time.perf_counter() - started


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def main(config: Config) -> dict:
    with open(config.cookies_file, encoding="ascii") as handle:
        cookies = [(int(i), c) for i, c in (line.rstrip("\n").split("\t") for line in handle)]
    jobs = Jobs(config, cookies)
    warmup = Tally()
    if config.warmup > 0:
        await run_phase(config, jobs, warmup, config.warmup)
    measured = Tally(measure=True)
    elapsed = await run_phase(config, jobs, measured, config.seconds)
    ordered = sorted(measured.latencies)
    return {
        "accepted": len(measured.accepted_ids),
        "errors": sum(measured.errors.values()),
        "error_kinds": measured.errors,
        "elapsed": elapsed,
        "rps": len(measured.accepted_ids) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p90_ms": percentile(ordered, 0.90) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] * 1000) if ordered else 0.0,
        "warmup_accepted": len(warmup.accepted_ids),
        "warmup_errors": sum(warmup.errors.values()),
        "warmup_error_kinds": warmup.errors,
        "accepted_ids": warmup.accepted_ids + measured.accepted_ids,
        "exhausted": jobs.exhausted,
    }


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = Config(**json.load(handle))
    json.dump(asyncio.run(main(config)), sys.stdout)
