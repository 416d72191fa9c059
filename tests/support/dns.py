"""A resolver that answers chosen names from a script, for SSRF and rebinding tests.

dns = fake_dns(monkeypatch)
dns.answers["hooks.test"] = [["127.0.0.1"], ["10.255.255.1"]]  # first, then later calls
...
assert dns.lookups == ["hooks.test"]  # resolved once
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["FakeDns", "fake_dns"]

REAL_GETADDRINFO = socket.getaddrinfo


@dataclass
class FakeDns:
    """Answers for chosen names (each call pops the next answer, the last one sticks; an
    empty answer fails as an unknown name); anything else — numeric hosts included, as
    the HTTP client's own connect asks for them — goes to the real resolver."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def getaddrinfo(self, host: object, port: object, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in self.answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)  # type: ignore[arg-type]
        self.lookups.append(name)
        queue = self.answers[name]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_addrinfo(address, port) for address in addresses]


def _addrinfo(address: str, port: object) -> tuple[Any, ...]:
    number = port if isinstance(port, int) else 0
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, number, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, number))


def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Install a :class:`FakeDns` as ``socket.getaddrinfo`` for one test."""
    fake = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake
