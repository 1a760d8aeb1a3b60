"""Helpers the page views share: role gates, scoped lookups, and showing DomainErrors on a page."""
from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme

from consent.exceptions import DomainError

from .. import permissions


def role_required(*roles: str):
    """Signed in and holding one of `roles` (staff roles count as legal); otherwise 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            held = permissions.roles_of(request.user)
            if permissions.ROLE_LEGAL in roles and held & permissions.STAFF_ROLES:
                return view(request, *args, **kwargs)
            if not held & set(roles):
                raise PermissionDenied("This page is for another kind of account.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def visible_or_404(queryset, **lookup):
    """A row from a queryset already scoped by the policy module: someone else's row is simply missing."""
    return get_object_or_404(queryset, **lookup)


def show_domain_error(request, error: DomainError, form=None) -> None:
    """Attach the error to the form field it names, or show it as a page message."""
    if form is not None and error.field and error.field in form.fields:
        form.add_error(error.field, error.message)
    elif form is not None:
        form.add_error(None, error.message)
    else:
        messages.error(request, error.message)


def redirect_back(request, fallback: str, *args):
    """To the `next` page the form came from when it is on this site, else to `fallback`."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback, *args)
