"""Talent pages: requests inbox, consent (grant and revoke), likeness uploads, every use of the likeness."""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core import signing
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from consent import selectors as consent_selectors
from consent import services as consent_services
from consent.exceptions import DomainError
from consent.models import ConsentGrant, License, LikenessAsset

from .. import actions, consent_document, permissions, scope, selectors
from ..forms import ConsentScopeForm, ConsentSignForm, CounterForm, DeclineForm, LikenessUploadForm, RevokeForm, end_of_day, start_of_day
from ..meta import request_meta
from .common import role_required, show_domain_error, visible_or_404

talent_only = role_required(permissions.ROLE_TALENT)


def _talent(request):
    return permissions.talent_of(request.user)


@talent_only
def home(request):
    talent = _talent(request)
    licenses = permissions.licenses_visible_to(request.user).filter(talent=talent).select_related("brand")
    return render(request, "portal/talent/home.html", {
        "talent": talent,
        "inbox": licenses.filter(status=License.Status.REQUESTED),
        "waiting": licenses.filter(status__in=[License.Status.COUNTERED, License.Status.APPROVED]),
        "active": licenses.filter(status__in=[License.Status.COUNTERSIGNED, License.Status.ACTIVE,
                                              License.Status.SUSPENDED]),
        "grants": consent_selectors.grants_for_talent(talent),
        "assets": talent.assets.filter(deleted_at__isnull=True),
    })


@talent_only
def request_detail(request, pk: int):
    talent = _talent(request)
    license = visible_or_404(permissions.licenses_visible_to(request.user).filter(talent=talent), pk=pk)
    return render(request, "portal/talent/request.html", {
        "license": license,
        "scope_rows": scope.describe_license(license),
        "diff": scope.diff_against_grant(license, license.grant),
        "actions": actions.available_actions(request.user, license),
        "can_counter": actions.can_counter(request.user, license),
        "decline_form": DeclineForm(),
        "events": consent_selectors.events_for_object(license),
    })


@talent_only
@require_http_methods(["GET", "POST"])
def counter(request, pk: int):
    talent = _talent(request)
    license = visible_or_404(permissions.licenses_visible_to(request.user).filter(talent=talent), pk=pk)
    if not actions.can_counter(request.user, license):
        messages.error(request, "This request can no longer be countered.")
        return redirect("portal:talent-request", pk=pk)
    form = CounterForm(request.POST or None, license=license)
    if request.method == "POST" and form.is_valid():
        changes = form.narrower_scope()
        if not changes:
            form.add_error(None, "Change at least one term to make a counter-offer, or approve the request as it is.")
        else:
            try:
                consent_services.counter_license(license=license, actor=request.user,
                                                 request_meta=request_meta(request), **changes)
            except DomainError as error:
                show_domain_error(request, error, form)
            else:
                messages.success(request, f"Your narrower terms were sent to {license.brand}.")
                return redirect("portal:talent-request", pk=pk)
    return render(request, "portal/talent/counter.html", {"license": license, "form": form})


@talent_only
@require_http_methods(["GET", "POST"])
def consent_new(request):
    """Step 1: choose the scope. Step 2 (consent_sign) shows the full document for signing."""
    today = timezone.localdate()
    form = ConsentScopeForm(request.POST or None, initial={
        "valid_from": today, "valid_until": today + dt.timedelta(days=365),
    })
    if request.method == "POST" and form.is_valid():
        token = consent_document.sign_step(scope=form.scope(), phrase=consent_document.new_phrase(),
                                           user_id=request.user.pk)
        return render(request, "portal/talent/consent_sign.html", _sign_context(request, token, ConsentSignForm(
            initial={"token": token}, modalities=form.cleaned_data["modalities"])))
    return render(request, "portal/talent/consent_new.html", {"form": form})


def _sign_context(request, token: str, form) -> dict:
    step = consent_document.read_step(token, user_id=request.user.pk)
    document = consent_document.render_document(talent=_talent(request), scope=step["scope"], phrase=step["phrase"])
    return {"form": form, "document": document, "phrase": step["phrase"], "scope": step["scope"],
            "title": consent_document.DOCUMENT_TITLE, "version": consent_document.DOCUMENT_VERSION}


@talent_only
@require_POST
def consent_sign(request):
    try:
        step = consent_document.read_step(request.POST.get("token", ""), user_id=request.user.pk)
    except signing.BadSignature:
        messages.error(request, "The consent form expired (30 minutes) or was changed. Start again: you will get "
                                "a new phrase to record.")
        return redirect("portal:talent-consent-new")
    scope_data = step["scope"]
    form = ConsentSignForm(request.POST, request.FILES, modalities=scope_data["modalities"])
    if form.is_valid():
        talent = _talent(request)
        try:
            grant = consent_services.grant_consent(
                talent=talent, actor=request.user,
                document_title=consent_document.DOCUMENT_TITLE, document_version=consent_document.DOCUMENT_VERSION,
                document_text=consent_document.render_document(talent=talent, scope=scope_data, phrase=step["phrase"]),
                modalities=scope_data["modalities"], permitted_uses=scope_data["permitted_uses"],
                platforms=scope_data["platforms"], allowed_categories=scope_data["allowed_categories"],
                excluded_categories=scope_data["excluded_categories"], territories=scope_data["territories"],
                languages=scope_data["languages"], prohibited_topics=scope_data["prohibited_topics"],
                valid_from=start_of_day(dt.date.fromisoformat(scope_data["valid_from"])),
                valid_until=end_of_day(dt.date.fromisoformat(scope_data["valid_until"])),
                evidence_phrase=step["phrase"], evidence_file=form.cleaned_data["evidence_file"],
                request_meta=request_meta(request),
            )
        except DomainError as error:
            show_domain_error(request, error, form)
        else:
            messages.success(request, "Your consent is recorded. Brands can now ask for licenses inside it.")
            return redirect("portal:talent-consent", pk=grant.pk)
    return render(request, "portal/talent/consent_sign.html", _sign_context(request, request.POST["token"], form))


@talent_only
def consent_detail(request, pk: int):
    grant = visible_or_404(permissions.grants_visible_to(request.user).filter(talent__user=request.user), pk=pk)
    return render(request, "portal/talent/consent.html", {
        "grant": grant,
        "scope_rows": scope.describe_grant(grant),
        "licenses": grant.licenses.select_related("brand"),
        "can_revoke": grant.status == ConsentGrant.Status.ACTIVE and permissions.can_revoke_grant(request.user, grant),
    })


@talent_only
@require_http_methods(["GET", "POST"])
def consent_revoke(request, pk: int):
    """One confirmation, then revoked at once."""
    grant = visible_or_404(permissions.grants_visible_to(request.user).filter(talent__user=request.user), pk=pk)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            consent_services.revoke_consent(grant=grant, actor=request.user, reason=form.cleaned_data["reason"],
                                            request_meta=request_meta(request))
        except DomainError as error:
            show_domain_error(request, error)
        else:
            messages.success(request, "Your consent is revoked. Its licenses are revoked and running streams stop "
                                      "at their next segment; your clones and likeness files are being deleted.")
        return redirect("portal:talent-consent", pk=grant.pk)
    open_licenses = grant.licenses.filter(status__in=consent_services.OPEN_STATES).select_related("brand")
    live_streams = selectors.with_progress(permissions.streams_visible_to(request.user).filter(
        license__grant=grant, status__in=["queued", "running"]))
    return render(request, "portal/talent/consent_revoke.html", {
        "grant": grant, "form": form, "open_licenses": open_licenses, "live_streams": live_streams,
    })


@talent_only
@require_http_methods(["GET", "POST"])
def likeness(request):
    talent = _talent(request)
    form = LikenessUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            consent_services.upload_likeness_asset(talent=talent, kind=form.cleaned_data["kind"],
                                                   uploaded_file=form.cleaned_data["file"], actor=request.user,
                                                   request_meta=request_meta(request))
        except DomainError as error:
            show_domain_error(request, error, form)
        else:
            messages.success(request, "Uploaded. Only clones under licenses you approved can use it.")
            return redirect("portal:talent-likeness")
    return render(request, "portal/talent/likeness.html", {
        "form": form,
        "assets": LikenessAsset.objects.filter(talent=talent),
    })


@talent_only
def uses(request):
    """Every use of the talent's likeness: licenses, streams, hours, platforms, earnings."""
    talent = _talent(request)
    streams = selectors.with_progress(
        permissions.streams_visible_to(request.user).filter(license__talent=talent).select_related("license__brand")
    ).order_by("-created_at")
    return render(request, "portal/talent/uses.html", {
        "uses": selectors.talent_uses(talent),
        "streams": streams,
    })
