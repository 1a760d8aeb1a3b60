"""Domain errors of clones and streams (codes are stable; messages say what to do next)."""
from __future__ import annotations

from consent.exceptions import DomainError


class UseDenied(DomainError):
    """The license gate refused the use; `details["reasons"]` lists every reason with its code."""

    code = "use_denied"
    http_status = 403
    default_message = "The license does not allow this use. Check the reasons, then change the request or the license."

    def __init__(self, decision, message: str | None = None):
        self.reasons = [{"code": r.code, "message": r.message} for r in decision.reasons]
        text = message or (
            "The license does not allow this use: "
            + "; ".join(r["message"] for r in self.reasons)
            + ". Change the request to fit the license, or ask the talent for a wider one."
        )
        super().__init__(text, details={"reasons": self.reasons})


class CloneNotReady(DomainError):
    code = "clone_not_ready"
    http_status = 409
    default_message = "The clone is not ready. Wait for it to be built, or request a new clone."


class NoPortraitAsset(DomainError):
    code = "no_portrait_asset"
    http_status = 409
    default_message = "The talent has no portrait on file. The talent must upload a portrait before a clone is built."


class StreamNotLive(DomainError):
    code = "stream_not_live"
    http_status = 409
    default_message = "The stream has already ended. Start a new stream instead."
