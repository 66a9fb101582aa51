"""Who is asking: the client's IP address and user agent, as far as they can be trusted."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

USER_AGENT_MAX_LENGTH = 512


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None
    user_agent: str


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's address: the socket's, or a trusted proxy's header.

    Headers such as X-Forwarded-For are written by whoever sends the request, so one is
    believed only when KEYHOUSE_TRUSTED_PROXY_HEADER names it, and then only the entry
    appended by the last of KEYHOUSE_TRUSTED_PROXY_COUNT trusted proxies.
    """
    header = settings.KEYHOUSE_TRUSTED_PROXY_HEADER
    if header:
        hops = [hop.strip() for hop in request.META.get(header, "").split(",") if hop.strip()]
        count = settings.KEYHOUSE_TRUSTED_PROXY_COUNT
        if len(hops) >= count and (address := _ip(hops[-count])):
            return address
    return _ip(request.META.get("REMOTE_ADDR", ""))


def _ip(value: str) -> str | None:
    """Read an IP address, also from "1.2.3.4:port" or "[::1]:port"; None if it is none."""
    candidates = [value]
    if value.startswith("["):
        candidates.append(value[1:].partition("]")[0])
    elif value.count(":") == 1:
        candidates.append(value.partition(":")[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def client_info(request: HttpRequest) -> ClientInfo:
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_LENGTH]
    return ClientInfo(ip=client_ip(request), user_agent=user_agent.replace("\x00", ""))
