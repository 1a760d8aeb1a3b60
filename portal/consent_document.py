"""The consent document a talent reads and signs, rendered from the scope they chose.

The text is stored with the grant exactly as shown (and hashed by the service), so it must be
rendered once from the same inputs on the page and at signing. The one-time phrase the talent
reads aloud in their recorded statement travels signed, with the scope, between the two steps.
"""
from __future__ import annotations

import secrets

from django.core import signing
from django.template.loader import render_to_string

DOCUMENT_TITLE = "Consent to the use of my face and voice by an AI digital clone"
DOCUMENT_VERSION = "1.0"
# Like D-ID's passcode script, the phrase is valid for a short time only.
PHRASE_MAX_AGE_SECONDS = 30 * 60
_SALT = "portal.consent-document"
_WORDS = (
    "amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor", "island", "jade", "kestrel",
    "lotus", "maple", "nectar", "orchid", "pebble", "quartz", "river", "saffron", "tulip", "umber", "violet",
    "willow", "yarrow", "zephyr",
)


def new_phrase() -> str:
    """Two words and four digits, e.g. "maple river 4821": easy to say, impossible to prepare in advance."""
    return f"{secrets.choice(_WORDS)} {secrets.choice(_WORDS)} {secrets.randbelow(9000) + 1000}"


def sign_step(*, scope: dict, phrase: str, user_id: int) -> str:
    return signing.dumps({"scope": scope, "phrase": phrase, "user": user_id}, salt=_SALT, compress=True)


def read_step(token: str, *, user_id: int) -> dict:
    """The scope and phrase from step 1; raises signing.BadSignature (or SignatureExpired) if not valid."""
    data = signing.loads(token, salt=_SALT, max_age=PHRASE_MAX_AGE_SECONDS)
    if data.get("user") != user_id:
        raise signing.BadSignature("The consent form was started by another account.")
    return data


def render_document(*, talent, scope: dict, phrase: str) -> str:
    return render_to_string("portal/talent/consent_document.txt", {
        "talent": talent, "scope": scope, "phrase": phrase, "title": DOCUMENT_TITLE, "version": DOCUMENT_VERSION,
    }).strip() + "\n"
