"""The one place where errors become HTTP responses for the API.

Every error body has the same shape, with a stable machine-readable code:

    {"error": {"code": "license_not_active", "message": "…what to do next…", "fields": {...}}}

`fields` appears for request validation errors (field name → list of messages); domain errors
may add `field` (the one field to correct) and `details` (see `DomainError.as_dict`).
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from consent.exceptions import DomainError

# DRF's own exception classes → our stable codes (DRF's default codes, made explicit here so that
# a DRF upgrade cannot silently change what clients see).
DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid",
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _drf_code(exc: exceptions.APIException) -> str:
    for cls in type(exc).__mro__:
        if cls in DRF_CODES:
            return DRF_CODES[cls]
    return exc.default_code


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"error": exc.as_dict()}, status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        # Model-level invariants (full_clean) reached from a service.
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: a 500, logged by Django
    code = _drf_code(exc)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body(code, "Some fields are invalid: correct them and send the request again.", detail)
        response.status_code = status.HTTP_400_BAD_REQUEST
    else:
        body = error_body(code, str(exc.detail))
    response.data = body
    return response
