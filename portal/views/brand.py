"""Brand pages: find consented talent, request licenses, create clones, run and watch streams."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from consent import selectors as consent_selectors
from consent import services as consent_services
from consent.exceptions import DomainError
from consent.models import License, LikenessAsset
from rendering import selectors as rendering_selectors
from rendering import services as rendering_services
from rendering.models import Clone, Stream

from .. import actions, permissions, scope, selectors
from ..forms import LicenseRequestForm, StreamForm, last_day
from ..meta import request_meta
from .common import role_required, show_domain_error, visible_or_404

brand_only = role_required(permissions.ROLE_BRAND)


def _brand_licenses(request):
    return permissions.licenses_visible_to(request.user).filter(brand__in=permissions.brands_of(request.user))


@brand_only
def home(request):
    licenses = _brand_licenses(request).select_related("brand", "talent")
    streams = selectors.with_progress(
        permissions.streams_visible_to(request.user).filter(license__in=licenses.values("id"))
        .select_related("license__talent")
    ).order_by("-created_at")[:20]
    return render(request, "portal/brand/home.html", {
        "brands": permissions.brands_of(request.user),
        "licenses": licenses,
        "streams": streams,
    })


@brand_only
def offers(request):
    grants = permissions.grants_on_offer(request.user).filter(valid_until__gt=timezone.now())
    return render(request, "portal/brand/offers.html", {
        "offers": [(grant, scope.describe_grant(grant)) for grant in grants],
    })


@brand_only
@require_http_methods(["GET", "POST"])
def request_license(request, grant_pk: int):
    grant = visible_or_404(permissions.grants_on_offer(request.user), pk=grant_pk)
    brands = permissions.brands_of(request.user)
    local_today = timezone.localdate()
    form = LicenseRequestForm(request.POST or None, grant=grant, brands=brands, initial={
        "starts_at": max(local_today, timezone.localtime(grant.valid_from).date()),
        "ends_at": last_day(grant.valid_until),
        "modalities": ["face"] if "face" in grant.modalities else [],
        "max_hours_per_day": 4, "max_hours_total": 100,
    })
    if request.method == "POST" and form.is_valid():
        brand = form.cleaned_data["brand"]
        try:
            license = consent_services.request_license(brand=brand, grant=grant, actor=request.user,
                                                       request_meta=request_meta(request), **form.scope())
        except DomainError as error:
            show_domain_error(request, error, form)
        else:
            messages.success(request, f"Request sent to {grant.talent}. You will see their answer here.")
            return redirect("portal:brand-license", pk=license.pk)
    return render(request, "portal/brand/request.html", {
        "grant": grant, "grant_rows": scope.describe_grant(grant), "form": form,
    })


@brand_only
def license_detail(request, pk: int):
    license = visible_or_404(_brand_licenses(request).select_related("brand", "talent", "grant"), pk=pk)
    clones = Clone.objects.filter(license=license)
    streams = selectors.with_progress(Stream.objects.filter(license=license)).order_by("-created_at")
    return render(request, "portal/brand/license.html", {
        "license": license,
        "scope_rows": scope.describe_license(license),
        "actions": actions.available_actions(request.user, license),
        "report": selectors.license_report(license),
        "clones": clones,
        "ready_clones": clones.filter(status=Clone.Status.READY),
        "streams": streams,
        "can_stream": license.status == License.Status.ACTIVE,
        "events": consent_selectors.events_for_object(license),
    })


@brand_only
@require_POST
def clone_new(request, pk: int):
    license = visible_or_404(_brand_licenses(request), pk=pk)
    voice = None
    if "voice" in license.modalities:
        voice = rendering_selectors.latest_asset(talent_id=license.talent_id, kind=LikenessAsset.Kind.VOICE)
    try:
        rendering_services.request_clone(license=license, actor=request.user, voice_asset=voice,
                                         request_meta=request_meta(request))
    except DomainError as error:
        show_domain_error(request, error)
    else:
        messages.success(request, "The clone is being built. It is ready in a few seconds; reload to see it.")
    return redirect("portal:brand-license", pk=pk)


@brand_only
@require_http_methods(["GET", "POST"])
def stream_new(request, pk: int):
    license = visible_or_404(_brand_licenses(request), pk=pk)
    clones = Clone.objects.filter(license=license, status=Clone.Status.READY)
    form = StreamForm(request.POST or None, request.FILES or None, license=license, clones=clones)
    denial = None
    if request.method == "POST" and form.is_valid():
        try:
            stream = rendering_services.create_stream(actor=request.user, request_meta=request_meta(request),
                                                      **form.stream_arguments())
        except DomainError as error:
            # A gate denial lists every reason; the page shows them all.
            denial = error.details.get("reasons")
            show_domain_error(request, error, form)
        else:
            messages.success(request, "The stream is queued; rendering starts in a moment.")
            return redirect("portal:brand-stream", pk=stream.pk)
    return render(request, "portal/brand/stream_new.html", {
        "license": license, "form": form, "denial": denial, "has_clone": clones.exists(),
    })


@role_required(permissions.ROLE_BRAND, permissions.ROLE_TALENT, permissions.ROLE_LEGAL)
def stream_detail(request, pk: int):
    """The live console: progress polled from the API, the gate's reasons, the recording when done."""
    stream = visible_or_404(
        selectors.with_progress(permissions.streams_visible_to(request.user)).select_related(
            "license__brand", "license__talent"), pk=pk)
    return render(request, "portal/brand/stream.html", {
        "stream": stream,
        "segments": stream.segments.order_by("sequence"),
        "can_stop": stream.is_live and permissions.can_stop_stream(request.user, stream),
        "events": consent_selectors.events_for_object(stream),
    })


@brand_only
@require_POST
def stream_stop(request, pk: int):
    stream = visible_or_404(permissions.streams_visible_to(request.user), pk=pk)
    if not permissions.can_stop_stream(request.user, stream):
        messages.error(request, "Only members of the brand running this stream can stop it.")
    else:
        try:
            rendering_services.request_stream_stop(stream=stream, actor=request.user, request_meta=request_meta(request))
        except DomainError as error:
            show_domain_error(request, error)
        else:
            messages.success(request, "Stopping: the stream ends after the segment being rendered.")
    return redirect("portal:brand-stream", pk=pk)
