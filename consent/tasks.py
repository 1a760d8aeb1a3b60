"""Celery tasks of the consent domain. They run on the default queue (only rendering goes to `gpu`)."""
from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="consent.tasks.erase_revoked_likeness")
def erase_revoked_likeness(grant_id: int) -> dict:
    """After a consent is withdrawn: erase what only it covered (PIPL Art. 47). Safe to run again."""
    return services.erase_likeness_after_revocation(grant_id=grant_id)


@shared_task(name="consent.tasks.sweep_revoked_likeness")
def sweep_revoked_likeness() -> list[dict]:
    """Periodic safety net: erase anything a revocation's own task did not (e.g. the broker was down)."""
    return [services.erase_likeness_after_revocation(grant_id=pk) for pk in services.revoked_grants_with_media_left()]


@shared_task(name="consent.tasks.expire_licenses")
def expire_licenses() -> list[int]:
    return [license.pk for license in services.expire_licenses()]


@shared_task(name="consent.tasks.activate_due_licenses")
def activate_due_licenses() -> list[int]:
    return [license.pk for license in services.activate_due_licenses()]
