"""Legal pages: countersign queue, license reports, the ledger timeline and its verification, export."""
from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from consent import ledger
from consent import selectors as consent_selectors
from consent.models import AuditEvent, Brand, Talent
from rendering.models import Stream

from .. import actions, permissions, scope, selectors, services
from ..forms import DeclineForm, LedgerFilterForm
from ..meta import request_meta
from .common import role_required, visible_or_404

legal_only = role_required(permissions.ROLE_LEGAL)


@legal_only
def home(request):
    licenses = permissions.licenses_visible_to(request.user).select_related("brand", "talent")
    return render(request, "portal/legal/home.html", {
        "queue": consent_selectors.licenses_awaiting_countersignature(),
        "live": licenses.filter(status__in=["active", "suspended", "countersigned"]),
        "chain": ledger.chain_status(),
    })


@legal_only
def license_report(request, pk: int):
    license = visible_or_404(permissions.licenses_visible_to(request.user), pk=pk)
    return render(request, "portal/legal/license.html", {
        "license": license,
        "scope_rows": scope.describe_license(license),
        "diff": scope.diff_against_grant(license, license.grant),
        "grant_rows": scope.describe_grant(license.grant),
        "report": selectors.license_report(license),
        "streams": selectors.with_progress(Stream.objects.filter(license=license)).order_by("-created_at"),
        "actions": actions.available_actions(request.user, license),
        "reason_form": DeclineForm(),
        "events": selectors.ledger_timeline(permissions.ledger_visible_to(request.user), license_id=license.pk),
    })


@legal_only
def ledger_timeline(request):
    events = permissions.ledger_visible_to(request.user)
    form = LedgerFilterForm(
        request.GET or None, talents=Talent.objects.all(), brands=Brand.objects.all(),
        action_names=AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct(),
    )
    filters = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "talent_id": data["talent"].pk if data["talent"] else None,
            "brand_id": data["brand"].pk if data["brand"] else None,
            "license_id": data["license"], "action": data["action"], "since": data["since"], "until": data["until"],
        }
    page = Paginator(selectors.ledger_timeline(events, **filters), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "portal/legal/ledger.html", {
        "form": form, "page": page, "query": query.urlencode(), "chain": ledger.chain_status(),
    })


@legal_only
@require_POST
def export_bundle(request):
    data, manifest = services.export_evidence_bundle(actor=request.user, request_meta=request_meta(request))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="consentframe-evidence-{stamp}.zip"'
    response["X-Ledger-Head"] = manifest["head_hash"]
    return response
