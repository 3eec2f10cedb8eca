"""Outbound HTTP for webhooks: one POST to a URL an organisation's admin typed in.

Plimsoll runs inside the organisation's network, so a webhook URL is a way to make the server
call anything it can reach. Unless WEBHOOK_ALLOW_PRIVATE_TARGETS is on, only public addresses
are called, over HTTPS, and the check is made on the address actually connected to: the host is
resolved here, every address it resolves to is checked, and the socket is opened to a checked
address while the Host header and TLS (SNI and certificate) still name the host. A DNS answer
that changes between a check and the connection (rebinding) therefore cannot slip through.

Redirects are never followed (a 3xx is a failure), timeouts are short, and at most
RESPONSE_LIMIT bytes of the answer are read.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 5  # seconds to open the connection (each address)
READ_TIMEOUT = 10  # seconds the receiver may stay silent while answering
RESPONSE_LIMIT = 4096  # bytes of the answer read at most
EXCERPT_LENGTH = 300  # characters of the answer kept for the delivery log
USER_AGENT = "Plimsoll-Webhooks/1.0"
URL_MAX_LENGTH = 2000

# The well-known NAT64 prefix: an IPv6 address that carries an IPv4 address in its last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(Exception):
    """The URL, or an address its host resolves to, may not be called."""


@dataclass(frozen=True)
class Answer:
    """What one POST got: a status code, or an error saying why there was none."""

    status_code: int | None
    error: str
    response: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address may lead to (mapped, 6to4, Teredo, NAT64)."""
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo:
        found += list(address.teredo)
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ip for ip in found if ip is not None]


def address_problem(address: str) -> str:
    """Why an IP address may not be called ("" for a public unicast address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    # An IPv4 address carried inside an IPv6 one first: it says best where the packets go.
    candidates = [*(_embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else []), ip]
    for candidate in candidates:
        for kind, flag in (
            ("unspecified", candidate.is_unspecified),
            ("loopback", candidate.is_loopback),
            ("link-local", candidate.is_link_local),
            ("multicast", candidate.is_multicast),
            ("reserved", candidate.is_reserved),
            ("private", candidate.is_private),
            ("non-public", not candidate.is_global),
        ):
            if flag:
                article = "an" if kind[0] in "aeiou" else "a"
                return f"{address} is {article} {kind} address"
    return ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def url_problem(url: str, *, allow_private: bool) -> str:
    """Why a URL cannot be a webhook target, as far as can be told without the network
    ("" when it can). The addresses its host resolves to are checked at every connection."""
    url = (url or "").strip()
    if not url:
        return "Enter the URL that should receive the events."
    if len(url) > URL_MAX_LENGTH:
        return f"Keep the URL to {URL_MAX_LENGTH} characters (it has {len(url)})."
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "The URL may not contain spaces or control characters."
    if not url.isascii():
        return (
            "Write the URL in ASCII: a host name in its xn-- form, other characters "
            "percent-encoded."
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # "https://[::1" and the like
        return f"This is not a URL Plimsoll can call ({exc})."
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "The URL's port must be a number from 1 to 65535."
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        allowed = "https:// or http://" if allow_private else "https://"
        return f"The URL must start with {allowed}."
    if scheme == "http" and not allow_private:
        return "The URL must use HTTPS (https://): events are sent only encrypted."
    if parts.username is not None or parts.password is not None:
        return "Leave user names and passwords out of the URL: each event is signed instead."
    if not host:
        return "The URL needs a host name, e.g. https://hris.example.com/plimsoll."
    if allow_private:
        return ""
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return f"{host} is a local name; the URL must reach a public address."
    if _is_ip(host) and (problem := address_problem(host)):
        return f"{problem}; the URL must reach a public address."
    return ""


def resolve(host: str, port: int) -> list[tuple]:
    """Every address `host` has, as socket.getaddrinfo gives them."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _open_checked(host: str, port: int, *, allow_private: bool) -> socket.socket:
    """Resolve `host`, refuse it if any address is not public (unless allowed), and connect to
    one of the checked addresses."""
    try:
        found = resolve(host, port)
    except socket.gaierror as exc:
        raise TargetRefused(f"Could not resolve {host}: {exc.strerror or exc}") from exc
    if not allow_private:
        for *_rest, sockaddr in found:
            if problem := address_problem(sockaddr[0]):
                raise TargetRefused(f"{host} resolves to {problem}: not called")
    failure: OSError | None = None
    for family, kind, proto, _name, sockaddr in found:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        sock.settimeout(READ_TIMEOUT)
        return sock
    if isinstance(failure, TimeoutError):
        raise ConnectionError(f"Could not connect to {host} within {CONNECT_TIMEOUT} s")
    raise ConnectionError(f"Could not connect to {host}: {failure}")


class _Connection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, *, allow_private: bool):
        super().__init__(host, port, timeout=READ_TIMEOUT)
        self.allow_private = allow_private

    def connect(self) -> None:
        self.sock = _open_checked(self.host, self.port, allow_private=self.allow_private)


def tls_context() -> ssl.SSLContext:
    """Certificates checked against the system's authorities, and the host name."""
    return ssl.create_default_context()


class _TLSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int | None, *, allow_private: bool):
        super().__init__(host, port, timeout=READ_TIMEOUT, context=tls_context())
        self.allow_private = allow_private

    def connect(self) -> None:
        sock = _open_checked(self.host, self.port, allow_private=self.allow_private)
        try:
            # The certificate must name the host of the URL, not the address connected to.
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _excerpt(raw: bytes) -> str:
    text = " ".join(raw.decode("utf-8", errors="replace").split())
    return text[:EXCERPT_LENGTH]


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool) -> Answer:
    """POST `body` to `url` once. Never raises for anything the network or the receiver does:
    the answer says what happened."""
    started = time.monotonic()

    def answer(status_code: int | None, error: str, response: str = "") -> Answer:
        duration = int((time.monotonic() - started) * 1000)
        return Answer(status_code, error[:500], response, duration)

    if problem := url_problem(url, allow_private=allow_private):
        return answer(None, problem)
    parts = urlsplit(url.strip())
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = _TLSConnection if parts.scheme.lower() == "https" else _Connection
    connection = None
    try:
        connection = kind(parts.hostname, parts.port, allow_private=allow_private)
        connection.request(
            "POST",
            target,
            body=body,
            headers={"user-agent": USER_AGENT, "connection": "close", **headers},
        )
        response = connection.getresponse()
        raw = response.read(RESPONSE_LIMIT)
        status = response.status
        if 200 <= status < 300:
            return answer(status, "", _excerpt(raw))
        if 300 <= status < 400:
            where = response.getheader("location", "")[:200]
            moved = f"HTTP {status}: redirect to {where or 'elsewhere'} not followed"
            return answer(status, moved, _excerpt(raw))
        return answer(status, f"HTTP {status} {response.reason}".strip(), _excerpt(raw))
    except TargetRefused as exc:
        return answer(None, str(exc))
    except TimeoutError:
        return answer(None, f"No answer within {READ_TIMEOUT} s")
    except ssl.SSLError as exc:
        return answer(None, f"TLS failed: {exc.reason or exc}")
    except (OSError, http.client.HTTPException) as exc:
        return answer(None, str(exc) or type(exc).__name__)
    finally:
        if connection is not None:
            connection.close()
