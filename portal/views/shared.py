"""Views every role uses: license moves (the buttons) and media behind a permission check."""
from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404
from django.views.decorators.http import require_POST

from consent.exceptions import DomainError

from .. import actions, permissions
from ..meta import request_meta
from .common import redirect_back, role_required, show_domain_error, visible_or_404

any_role = role_required(permissions.ROLE_TALENT, permissions.ROLE_BRAND, permissions.ROLE_LEGAL)


@any_role
@require_POST
def license_action(request, pk: int, action: str):
    if action not in actions.LICENSE_ACTIONS:
        raise Http404("No such action.")
    license = visible_or_404(permissions.licenses_visible_to(request.user), pk=pk)
    spec = actions.LICENSE_ACTIONS[action]
    try:
        actions.perform_license_action(user=request.user, license=license, action=action,
                                       reason=request.POST.get("reason", ""), request_meta=request_meta(request))
    except DomainError as error:
        show_domain_error(request, error)
    else:
        messages.success(request, spec.done)
    return redirect_back(request, "portal:home")


def _media_response(field, filename: str) -> FileResponse:
    if not field:
        raise Http404("The file is not available (not rendered yet, or erased).")
    return FileResponse(field.open("rb"), content_type="video/mp4", filename=filename)


@any_role
def stream_recording(request, pk: int):
    stream = visible_or_404(permissions.streams_visible_to(request.user), pk=pk)
    return _media_response(stream.recording, f"stream-{stream.pk}.mp4")


@any_role
def segment_file(request, pk: int):
    segment = visible_or_404(permissions.segments_visible_to(request.user), pk=pk)
    return _media_response(segment.file, f"stream-{segment.stream_id}-segment-{segment.sequence}.mp4")
