"""Which webhook URLs the system POSTs to: `https` URLs whose host resolves to public addresses only.

No private, loopback, link-local, shared (CGNAT), multicast, reserved or cloud metadata address (169.254.169.254,
fd00:ec2::254), also when one hides inside an IPv6 address (IPv4-mapped, 6to4, Teredo, NAT64). The check runs on the
addresses the host resolves to, at submit and again before each delivery, which then connects to an address the
check accepted, so a host re-pointed at an internal address meanwhile (DNS rebinding) reaches nothing. The local
stack's setting `webhook_allow_loopback` also allows `http` (or `https`) URLs of a loopback host, e.g.
`http://127.0.0.1:8080/hook`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from lambdas.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]  # (host, port) -> the IP addresses it resolves to
FIELD = "webhook_url"
DEFAULT_PORTS = {"http": 80, "https": 443}
# Not globally reachable, yet `is_global` says otherwise in some Python versions (IETF protocol assignments).
NOT_PUBLIC = (ipaddress.ip_network("192.0.0.0/24"),)
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL and the address to connect to (one of those its host resolved to, all of them allowed)."""

    scheme: str
    host: str
    port: int
    address: str
    path: str  # path and query, as sent in the request line


class Unresolvable(InvalidInput):
    """The host does not resolve (now): at delivery, a reason to try again later."""


def resolve_host(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _embedded(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if any(ip in network for network in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded(ip)) is not None:
        return is_public(inner)
    return (ip.is_global and not ip.is_multicast and not ip.is_reserved
            and not any(ip in network for network in NOT_PUBLIC if network.version == ip.version))


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(f"{FIELD} {message}", field=FIELD)


def check_webhook_url(url: str, *, allow_loopback: bool, resolve: Resolver = resolve_host) -> WebhookTarget:
    """The URL's target, or InvalidInput naming `webhook_url` when the system must not POST there."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise _invalid("must be an absolute https URL, e.g. https://example.com/hooks/sdcloud")
    if parts.username is not None or parts.password is not None:
        raise _invalid("must not carry a user name or password")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise _invalid("has an invalid port") from exc
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:
        raise Unresolvable(f"{FIELD} names host '{host}', which does not resolve", field=FIELD) from exc
    if not addresses:
        raise Unresolvable(f"{FIELD} names host '{host}', which does not resolve", field=FIELD)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    target = WebhookTarget(scheme, host, port, str(addresses[0]), path)
    if allow_loopback and all(a.is_loopback for a in addresses):
        return target
    if scheme != "https":
        raise _invalid("must be an https URL")
    refused = [a for a in addresses if not is_public(a)]
    if refused:
        raise _invalid(f"must reach a public address; '{host}' resolves to {refused[0]}")
    return target
