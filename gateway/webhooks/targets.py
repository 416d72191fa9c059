"""Callback URLs: checked when given, resolved once, and delivered to the address checked.

A client could otherwise make the gateway probe its internal network, directly or
through a DNS answer that changes between the check and the delivery (rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from common.errors import InvalidInputError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "CallbackTarget",
    "CallbackUrlNotAllowedError",
    "InvalidCallbackUrlError",
    "check_public_addresses",
    "pinned_request",
    "resolve_callback_target",
    "validate_callback_url",
]


class InvalidCallbackUrlError(InvalidInputError):
    """A ``callback_url`` the gateway will not call (422)."""

    code = "invalid_callback_url"


class CallbackUrlNotAllowedError(InvalidCallbackUrlError):
    """A ``callback_url`` whose host is, or resolves to, a non-public address (422)."""

    code = "callback_url_not_allowed"


def validate_callback_url(url: str, *, allow_private_networks: bool = False) -> str:
    """Check a ``callback_url``'s syntax and literal address, without resolving it;
    returns it unchanged. :func:`resolve_callback_target` also checks what it resolves to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidCallbackUrlError("callback_url must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise InvalidCallbackUrlError("callback_url must not carry credentials")
    if not allow_private_networks and _is_private_literal(parts.hostname):
        raise CallbackUrlNotAllowedError("callback_url points to a private or loopback address")
    return url


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    """A callback URL and the addresses its host resolved to when it was checked.

    Deliveries connect to these addresses and never resolve the name again: a DNS answer
    that changes after the check (rebinding) cannot redirect a callback inward.
    """

    url: str
    addresses: tuple[str, ...]


def resolve_callback_target(url: str, *, allow_private_networks: bool = False) -> CallbackTarget:
    """Validate ``url``, resolve its host once and refuse it (422) when any address is
    non-public — one private answer among public ones is enough to aim a delivery."""
    validate_callback_url(url, allow_private_networks=allow_private_networks)
    host = urlsplit(url).hostname or ""
    addresses = _resolve(host)
    if not allow_private_networks:
        check_public_addresses(addresses)
    return CallbackTarget(url, addresses)


def check_public_addresses(addresses: Sequence[str]) -> None:
    """Raise :class:`CallbackUrlNotAllowedError` unless every address is public."""
    if any(_is_private_ip(ipaddress.ip_address(a)) for a in addresses):
        # The addresses stay out of the message: they describe the gateway's network.
        raise CallbackUrlNotAllowedError(
            "callback_url's host resolves to a private, loopback, link-local or reserved address"
        )


def _resolve(host: str) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise InvalidCallbackUrlError(f"callback_url's host {host!r} does not resolve") from exc
    # Order kept (the resolver's preference), duplicates (one per socket type) dropped.
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise InvalidCallbackUrlError(f"callback_url's host {host!r} does not resolve")
    return addresses


def _is_private_literal(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return _is_private_ip(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return False  # a name: checked after resolution


def _is_private_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 reaches 10.0.0.1
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global  # shared (100.64/10), documentation, 6to4 relays …
    )


def pinned_request(url: str, address: str) -> tuple[httpx.URL, str, dict[str, Any]]:
    """The URL aimed at ``address``, the ``Host`` header and the TLS server name of
    ``url``: the connection goes to the checked address, HTTP and TLS see the name."""
    import httpx

    original = httpx.URL(url)
    host = original.raw_host.decode("ascii")  # IDNA-encoded, as on the wire
    host_header = host if original.port is None else f"{host}:{original.port}"
    extensions = {"sni_hostname": host} if original.scheme == "https" else {}
    return original.copy_with(host=address), host_header, extensions
