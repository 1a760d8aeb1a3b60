"""Domain errors. Each has a stable `code`, an `http_status`, and a message that says what to do next.

DRF maps them to HTTP in one place (the portal's exception handler); templates show `message`.
"""
from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    http_status = 400
    default_message = "The request could not be carried out."

    def __init__(self, message: str | None = None, *, code: str | None = None, field: str | None = None,
                 details: dict | None = None):
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        self.field = field
        self.details = details or {}
        super().__init__(self.message)

    def as_dict(self) -> dict:
        data = {"code": self.code, "message": self.message}
        if self.field:
            data["field"] = self.field
        if self.details:
            data["details"] = self.details
        return data


class NotPermitted(DomainError):
    code = "not_permitted"
    http_status = 403
    default_message = "You are not allowed to do this. Ask the talent, the brand or a legal reviewer who is."


class InvalidInput(DomainError):
    code = "invalid_input"
    http_status = 400
    default_message = "Some of the values given are not valid. Correct the named field and try again."


class ScopeExceedsGrant(InvalidInput):
    """A license asked for more than the talent consented to (or a counter-offer widened the request)."""

    code = "scope_exceeds_grant"
    default_message = "The license asks for more than the consent grant allows. Narrow the named field."


class IllegalTransition(DomainError):
    code = "illegal_transition"
    http_status = 409
    default_message = "This change is not allowed from the current state. Reload and check the status."

    def __init__(self, message: str | None = None, *, from_status: str | None = None, action: str | None = None,
                 **kwargs):
        self.from_status = from_status
        self.action = action
        details = kwargs.pop("details", None) or {}
        details.update({k: v for k, v in (("from_status", from_status), ("action", action)) if v is not None})
        super().__init__(message, details=details, **kwargs)


class ConsentNotActive(DomainError):
    code = "consent_not_active"
    http_status = 409
    default_message = "The consent grant is revoked or outside its validity. The talent must give a new consent."


class InvalidUpload(InvalidInput):
    code = "invalid_upload"
    default_message = "The file could not be accepted. Upload a JPEG, PNG or WebP portrait, or a WAV, MP3, " \
                      "OGG, FLAC or M4A voice sample."


class LedgerError(DomainError):
    """The audit ledger refused a change or failed verification."""

    code = "ledger_error"
    http_status = 500
    default_message = "The audit ledger refused the operation. Audit events can only be appended."


class AppendOnlyViolation(LedgerError):
    code = "ledger_append_only"
    http_status = 409
    default_message = "Audit events are append-only: they cannot be changed or deleted. Record a new event instead."
