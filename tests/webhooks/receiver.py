"""A real HTTP(S) receiver on the loopback interface, in a thread, for webhook tests."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next of `answers` (the last one repeats), and keeps what it
    got. `location` is sent with redirects; `extra_body` makes an answer long."""

    url: str
    port: int
    answers: list[int] = field(default_factory=lambda: [200])
    location: str = ""
    extra_body: bytes = b""
    got: list[Received] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    def next_status(self) -> int:
        index = min(len(self.got) - 1, len(self.answers) - 1)
        return self.answers[index]


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.got.append(Received(self.path, headers, body))
            status = receiver.next_status()
            payload = b'{"ok": true}' if status < 300 else b"not today"
            payload += receiver.extra_body
            self.send_response(status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            # The sender stops reading a long answer, as it should.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler


def _serve(receiver_factory, *, family=socket.AF_INET, host="127.0.0.1", tls=None):
    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    server = Server((host, 0), _handler(receiver_factory))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@contextlib.contextmanager
def running(*, family=socket.AF_INET, host="127.0.0.1", tls=None) -> Iterator[Receiver]:
    """A receiver listening on `host` (any free port) until the block ends."""
    found = Receiver(url="", port=0)
    server, thread = _serve(found, family=family, host=host, tls=tls)
    found.port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    found.url = f"{'https' if tls else 'http'}://{shown}:{found.port}/hooks/plimsoll"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
