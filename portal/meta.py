"""What the portal records about where a request came from."""
from __future__ import annotations


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def request_meta(request) -> dict:
    """The {"ip", "user_agent"} the consent and rendering services write into the ledger."""
    return {"ip": request.META.get("REMOTE_ADDR") or None, "user_agent": request.META.get("HTTP_USER_AGENT", "")[:400]}
