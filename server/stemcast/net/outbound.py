"""The one guard for requests the server makes to addresses clients name (URL ingest, callbacks).

Without it a client could make the server fetch its own /metrics, a database on the loopback
interface, or a cloud metadata service, and read the answer back (server-side request
forgery). The guard sits where connections are made (an httpcore network backend), so that:

- the name is resolved once, every address it resolves to is checked, and the connection goes
  to the address that was checked: a DNS answer that changes between check and connect
  (rebinding) cannot slip through;
- every redirect opens its connection through the same check;
- numeric spellings (2130706433, 0x7f000001, 127.1, [::ffff:127.0.0.1]) resolve to the
  address they mean before the check, so none of them is a way round it.

TLS keeps the URL's host name for SNI and certificate checks, and the Host header is the
URL's: only the TCP connect uses the checked address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import anyio
import httpcore
import httpx

from stemcast import __version__

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits; so do 6to4 and Teredo,
# which the ipaddress module unpacks itself.
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")

PRIVATE_HINT: Final = ("stemcast does not connect to loopback, private, link-local or other "
                       "non-public addresses unless the operator allows it "
                       "(--fetch-allow-private for all of them; or one host, HOST[:PORT]: "
                       "--fetch-allow-host for URL ingest, --callback-allow-host for "
                       "callbacks)")


class OutboundRefused(httpx.ConnectError):
    """The target is an address this server may not connect to; the message says why and
    which flag allows it. Not the target's answer: no connection was made."""


@dataclass(frozen=True)
class OutboundPolicy:
    """Which targets a kind of outbound request may reach.

    allow_private: every address may be reached (a server on a trusted network).
    allowed_hosts: host names or addresses that may be reached even when they resolve to a
    non-public address, optionally with a port ("localhost", "127.0.0.1:5000", "[::1]:80").
    """

    allow_private: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, allow_private: bool, hosts: Iterable[str] = ()) -> OutboundPolicy:
        return cls(allow_private, frozenset(normalize_host_entry(h) for h in hosts))

    def allows_host(self, host: str, port: int, addresses: Iterable[IPAddress]) -> bool:
        """An allowlisted name, or an allowlisted address the name resolved to."""
        names = {_bare(host).lower(), *(str(a) for a in addresses)}
        return any(f"{name}:{port}" in self.allowed_hosts or name in self.allowed_hosts
                   for name in names)


def normalize_host_entry(entry: str) -> str:
    """'LocalHost', 'localhost:5000', '[::1]:80', '::1' -> the form allows_host compares."""
    text = entry.strip().lower()
    if not text:
        raise ValueError("an empty host; give a host name or address, optionally with :PORT")
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        ipaddress.ip_address(address)  # raises ValueError on a bad address
        port = rest.removeprefix(":")
        return f"{address}:{_port(port, entry)}" if port else address
    if text.count(":") > 1:  # a bare IPv6 address, no port
        return str(ipaddress.ip_address(text))
    host, _, port = text.partition(":")
    return f"{host}:{_port(port, entry)}" if port else host


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r}: the port must be 1..65535")
    return int(text)


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def why_not_public(address: IPAddress) -> str | None:
    """None for a public unicast address; otherwise what kind of address it is."""
    embedded: list[IPAddress] = []
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    for inner in embedded:
        reason = why_not_public(inner)
        if reason is not None:
            return reason
    for test, kind in ((address.is_unspecified, "unspecified"), (address.is_loopback, "loopback"),
                       (address.is_link_local, "link-local"), (address.is_multicast, "multicast"),
                       (address.is_private, "private"), (address.is_reserved, "reserved")):
        if test:
            return kind
    if not address.is_global:
        return "non-public"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address a host name stands for (numeric spellings included), in resolver order."""
    bare = _bare(host)
    try:
        infos = await anyio.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # no such name; a name IDNA refuses
        raise httpx.ConnectError(f"the host name '{host[:100]}' does not resolve") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def checked_addresses(host: str, port: int, policy: OutboundPolicy) -> list[IPAddress]:
    """Resolve and check; raises OutboundRefused when any address is not allowed."""
    addresses = await resolve(host, port)
    if policy.allow_private or policy.allows_host(host, port, addresses):
        return addresses
    for address in addresses:
        reason = why_not_public(address)
        if reason is not None:
            raise OutboundRefused(f"'{_bare(host)[:100]}' port {port} is a {reason} address "
                                  f"({address}); {PRIVATE_HINT}")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the check before each TCP connect."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self.policy)
        last: Exception | None = None
        for address in addresses:  # the checked addresses only, in resolver order
            try:
                return await self._inner.connect_tcp(str(address), port, timeout=timeout,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("outbound requests go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on the guarded backend (no proxies: a
    proxy would connect on our behalf to an address we never checked)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        super().__init__(trust_env=False)
        ssl_context = httpx.create_ssl_context(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context,
                                                  network_backend=GuardedBackend(policy))


def guarded_client(policy: OutboundPolicy, *, timeout: float, follow_redirects: bool = False,
                   max_redirects: int = 5) -> httpx.AsyncClient:
    """An httpx client whose every connection (redirects included) passes the guard."""
    return httpx.AsyncClient(transport=GuardedTransport(policy), trust_env=False,
                             timeout=timeout, follow_redirects=follow_redirects,
                             max_redirects=max_redirects,
                             headers={"User-Agent": f"stemcast/{__version__}"})
