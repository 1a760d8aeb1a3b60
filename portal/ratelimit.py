"""Login rate limiting: a cache-based counter of failed attempts per (username, IP) and per IP.

Kept in Django's cache so that every web process shares it once the cache is shared (`CACHE_URL=redis://…`;
the default local-memory cache limits each process on its own).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


def _key(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"portal:login-failures:{digest}"


@dataclass(frozen=True)
class LoginThrottle:
    username: str
    ip: str

    @property
    def _keys(self) -> tuple[tuple[str, int], ...]:
        return (
            (_key("user-ip", self.username.strip().lower(), self.ip), settings.PORTAL_LOGIN_MAX_FAILURES),
            (_key("ip", self.ip), settings.PORTAL_LOGIN_MAX_FAILURES_PER_IP),
        )

    def is_blocked(self) -> bool:
        return any((cache.get(key) or 0) >= limit for key, limit in self._keys)

    def record_failure(self) -> None:
        timeout = settings.PORTAL_LOGIN_LOCKOUT_SECONDS
        for key, _limit in self._keys:
            # add() starts the window on the first failure; incr() never extends it.
            if not cache.add(key, 1, timeout):
                try:
                    cache.incr(key)
                except ValueError:  # expired between add() and incr()
                    cache.add(key, 1, timeout)

    def reset(self) -> None:
        """After a successful login only this user's counter resets; the IP's stays."""
        cache.delete(self._keys[0][0])
