"""State changes of clones and streams. Each writes its audit event in the same transaction."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import Clone, Stream

LIVE_STREAM_STATES = (Stream.Status.QUEUED, Stream.Status.RUNNING)


def request_stop_for_licenses(*, license_ids, reason_code: str, detail: str = "", now=None) -> list[int]:
    """Flag every queued or running stream of these licenses to stop at its next segment boundary.

    Called inside the transaction that changes the license, so the flag commits with the change.
    The render loop also re-checks the gate at every boundary; the flag makes the reason explicit.
    Returns the ids of the streams flagged.
    """
    now = now or timezone.now()
    streams = Stream.objects.select_for_update().filter(
        license_id__in=list(license_ids), status__in=LIVE_STREAM_STATES, stop_requested_at__isnull=True
    )
    ids = list(streams.values_list("id", flat=True))
    if ids:
        Stream.objects.filter(id__in=ids).update(stop_requested_at=now, end_reason=reason_code, end_detail=detail)
    return ids


def erase_clone(*, clone: Clone, now=None) -> None:
    """Delete a clone's media (PIPL Art. 47); the row keeps its hash as evidence of what existed."""
    now = now or timezone.now()
    with transaction.atomic():
        if clone.portrait:
            name = clone.portrait.name
            storage = clone.portrait.storage
            transaction.on_commit(lambda: storage.delete(name))
        clone.portrait = ""
        clone.status = Clone.Status.DELETED
        clone.deleted_at = now
        clone.save(update_fields=["portrait", "status", "deleted_at"])
