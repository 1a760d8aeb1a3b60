"""License moves as the pages and the API offer them: who may make them, and which service does it.

Which states a move starts from and which parties may make it come from consent's one table,
`consent.services.LICENSE_TRANSITIONS`, so a button, an API call and the service always agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from consent import services
from consent.exceptions import InvalidInput, NotPermitted
from consent.models import License

from . import permissions


@dataclass(frozen=True)
class LicenseAction:
    name: str  # as it appears in URLs
    transition: str  # key of LICENSE_TRANSITIONS
    service: Callable[..., License]
    reason: str  # "none", "optional" or "required"
    done: str  # what a page tells the user afterwards
    button: str
    style: str = ""  # button style in templates: "", "secondary" or "danger"

    def allowed(self, user, license: License) -> bool:
        return self.allowed_to(permissions.license_parties(user, license))

    def allowed_to(self, parties: frozenset[str]) -> bool:
        return bool(parties & services.LICENSE_TRANSITIONS[self.transition].parties)

    def offered(self, license: License, parties: frozenset[str]) -> bool:
        return license.status in services.LICENSE_TRANSITIONS[self.transition].sources and self.allowed_to(parties)


# Counter-offers take a whole scope, so they have their own form and endpoint.
LICENSE_ACTIONS: dict[str, LicenseAction] = {
    action.name: action
    for action in (
        LicenseAction("approve", "approve", services.approve_license, "none",
                      "You approved the license. A legal reviewer countersigns it next.", "Approve"),
        LicenseAction("accept-counter", "accept_counter", services.accept_counter, "none",
                      "You accepted the talent's narrower terms. A legal reviewer countersigns it next.",
                      "Accept these terms"),
        LicenseAction("countersign", "countersign", services.countersign_license, "none",
                      "Countersigned. The license is active from its first day.", "Countersign"),
        LicenseAction("reinstate", "reinstate", services.reinstate_license, "none", "Reinstated.", "Reinstate",
                      "secondary"),
        LicenseAction("decline", "decline", services.decline_license, "optional",
                      "The license request was declined.", "Decline", "danger"),
        LicenseAction("withdraw", "withdraw", services.withdraw_license, "none", "You withdrew the request.",
                      "Withdraw", "secondary"),
        LicenseAction("complete", "complete", services.complete_license, "none",
                      "The license is completed; no more streams can run under it.", "Mark completed", "secondary"),
        LicenseAction("suspend", "suspend", services.suspend_license, "required",
                      "Suspended. Running streams stop at their next segment.", "Suspend", "danger"),
        LicenseAction("revoke", "revoke", services.revoke_license, "required",
                      "Revoked. Running streams stop at their next segment.", "Revoke", "danger"),
    )
}


def available_actions(user, license: License) -> list[LicenseAction]:
    """The moves to show this user for this license now (the service still has the last word)."""
    parties = permissions.license_parties(user, license)
    return [action for action in LICENSE_ACTIONS.values() if action.offered(license, parties)]


def can_counter(user, license: License) -> bool:
    transition = services.LICENSE_TRANSITIONS["counter"]
    return license.status in transition.sources and bool(permissions.license_parties(user, license) & transition.parties)


def perform_license_action(*, user, license: License, action: str, reason: str = "",
                           request_meta: dict | None = None) -> License:
    spec = LICENSE_ACTIONS[action]
    if not spec.allowed(user, license):
        raise NotPermitted()
    kwargs = {"license": license, "actor": user, "request_meta": request_meta}
    if spec.reason != "none":
        reason = (reason or "").strip()
        if spec.reason == "required" and not reason:
            raise InvalidInput("Give a reason: it is recorded in the ledger and shown to the brand and the talent.",
                               field="reason")
        kwargs["reason"] = reason
    return spec.service(**kwargs)
