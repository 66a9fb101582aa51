"""Who is asking: the client's IP address and user agent, as far as they can be trusted."""

from __future__ import annotations

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
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR") or None


def client_info(request: HttpRequest) -> ClientInfo:
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_LENGTH]
    return ClientInfo(ip=client_ip(request), user_agent=user_agent.replace("\x00", ""))
