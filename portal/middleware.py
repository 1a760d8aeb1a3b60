"""Secure response headers: a strict Content-Security-Policy and a Permissions-Policy.

Pages load scripts, styles, images and media from this origin only (no CDN, no inline script).
The admin and the API docs page use inline styles, so those paths allow them.
"""
from __future__ import annotations

STRICT = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' blob:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Swagger UI and the Django admin set style attributes; scripts still come from this origin only.
RELAXED_STYLE_PATHS = ("/admin/", "/api/docs/")


def build_policy(path: str) -> str:
    directives = dict(STRICT)
    if path.startswith(RELAXED_STYLE_PATHS):
        directives["style-src"] = "'self' 'unsafe-inline'"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", build_policy(request.path))
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Pages behind a login name people and contracts: keep them out of shared caches.
            response.setdefault("Cache-Control", "private, no-store")
        return response
