"""Clones: built only under a license that allows clone creation, from the talent's consented portrait."""
import hashlib
import io
import os

import numpy as np
import pytest
from PIL import Image

from consent.exceptions import InvalidInput, NotPermitted
from consent.models import AuditEvent, License, LikenessAsset
from rendering import services
from rendering.exceptions import UseDenied
from rendering.models import Clone
from tests.factories import ActiveLicenseFactory, LikenessAssetFactory, UserFactory


def files_under(root, folder):
    path = os.path.join(root, folder)
    return [os.path.join(d, f) for d, _, names in os.walk(path) for f in names] if os.path.isdir(path) else []


def test_denied_clone_request_stores_nothing_and_says_why(licensed, settings):
    license, portrait, brand_user = licensed
    License.objects.filter(pk=license.pk).update(permitted_uses=["live_rendering"], platforms=["douyin"])

    with pytest.raises(UseDenied) as denied:
        services.request_clone(license=license, actor=brand_user, source_asset=portrait)

    codes = [r["code"] for r in denied.value.reasons]
    assert codes == ["use_not_licensed"]
    assert denied.value.code == "use_denied" and denied.value.http_status == 403
    assert "does not cover this use" in denied.value.message
    assert denied.value.as_dict()["details"]["reasons"] == denied.value.reasons
    assert not Clone.objects.exists()
    assert files_under(settings.MEDIA_ROOT, "clones") == []
    event = AuditEvent.objects.get(action="clone.denied")
    assert [r["code"] for r in event.after["reasons"]] == codes


def test_clone_is_built_from_the_portrait_with_its_hash_and_face_geometry(licensed):
    license, portrait, brand_user = licensed
    clone = services.request_clone(license=license, actor=brand_user, source_asset=portrait)
    assert clone.status == Clone.Status.PENDING

    clone = services.build_clone(clone_id=clone.pk)

    assert clone.status == Clone.Status.READY and clone.ready_at
    with clone.portrait.open("rb") as fh:
        data = fh.read()
    assert hashlib.sha256(data).hexdigest() == clone.sha256
    image = np.asarray(Image.open(io.BytesIO(data)))
    assert image.shape[0] == image.shape[1] >= 128  # cropped square around the face
    assert {"face", "mouth", "left_eye", "right_eye"} <= clone.geometry.keys()
    actions = list(AuditEvent.objects.filter(object_type="rendering.clone", object_id=str(clone.pk))
                   .values_list("action", flat=True))
    assert actions == ["clone.requested", "clone.ready"]
    # A redelivered build task changes nothing.
    assert services.build_clone(clone_id=clone.pk).sha256 == clone.sha256
    assert AuditEvent.objects.filter(action="clone.ready").count() == 1


def test_build_rechecks_the_gate_and_a_late_denial_stores_no_media(licensed, settings):
    license, portrait, brand_user = licensed
    clone = services.request_clone(license=license, actor=brand_user, source_asset=portrait)
    License.objects.filter(pk=license.pk).update(status=License.Status.SUSPENDED)

    clone = services.build_clone(clone_id=clone.pk)

    assert clone.status == Clone.Status.DENIED
    assert "license_suspended" in [r["code"] for r in clone.reasons]
    assert not clone.portrait and not clone.sha256
    assert files_under(settings.MEDIA_ROOT, "clones") == []


def test_a_portrait_without_a_face_fails_with_a_reason(licensed):
    license, _, brand_user = licensed
    out = io.BytesIO()
    Image.fromarray(np.tile(np.linspace(0, 255, 256, dtype=np.uint8)[None, :, None], (256, 1, 3))).save(out, "PNG")
    blank = LikenessAssetFactory(talent=license.talent, kind=LikenessAsset.Kind.PORTRAIT, data=out.getvalue())

    clone = services.build_clone(clone_id=services.request_clone(license=license, actor=brand_user,
                                                                 source_asset=blank).pk)

    assert clone.status == Clone.Status.FAILED
    assert clone.reasons[0]["code"] == "no_face_found"


def test_only_members_of_the_licensed_brand_may_request_a_clone(licensed):
    license, portrait, _ = licensed
    with pytest.raises(NotPermitted):
        services.request_clone(license=license, actor=UserFactory(), source_asset=portrait)
    other = ActiveLicenseFactory()
    with pytest.raises(InvalidInput):  # another talent's portrait
        services.request_clone(license=other, actor=other.requested_by, source_asset=portrait)
    assert not Clone.objects.exists()
