"""Signed segments, recordings and stills: what the manifests say and when they stop holding."""
import pytest

from watermark.aigc import read_image_aigc, read_mp4_aigc
from watermark.credentials import generate_dev_credentials
from watermark.provenance import (
    TRAINED_ALGORITHMIC_MEDIA,
    TRAINING_MINING_USES,
    ProvenanceError,
    ProvenanceSigner,
    RecordingInfo,
)
from watermark.verify import check_segment_chain, verify_file

from .conftest import content, encode_image, encode_mp4, segment_info, still_info, synthetic_frames


@pytest.fixture
def segments(signer):
    """Two chained segments of one stream."""
    first = signer.sign_segment(encode_mp4(synthetic_frames(64, 64, 5)), segment_info(0))
    second = signer.sign_segment(encode_mp4(synthetic_frames(64, 64, 5)), segment_info(1, first.manifest_id))
    return [first, second]


def test_segment_manifest_binds_every_frame_and_states_origin_and_license(segments, dev):
    report = verify_file(segments[0].data, trust_anchors_pem=dev.ca_cert_pem, check_media=False)
    assert report.status == "trusted" and report.ok and report.failures == []
    m = report.manifest
    assert m["manifest_id"] == segments[0].manifest_id
    created, watermarked = m["actions"]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"] == {"name": "portrait-animator", "version": "1.2"}
    assert watermarked["action"] == "c2pa.watermarked"
    assert m["soft_binding"] == {"alg": "org.consentframe.wm.v1",
                                 "values": [f"{3:08x}{0:05x}{i:02x}" for i in range(5)]}
    assert m["segment"] == {"streamId": "3", "sequenceNumber": 0, "continuityMethod": "c2pa.manifestId"}
    assert m["license"]["license_id"] == 11 and m["license"]["consent_grant_id"] == 7
    assert m["license"]["consent_document_version"] == "2026-01"
    assert (m["license"]["talent"], m["license"]["brand"], m["license"]["platform"]) == (
        "Synthetic Host", "Acme Tea", "douyin")
    assert m["training_mining"] == {use: {"use": "notAllowed"} for use in TRAINING_MINING_USES}
    assert report.aigc["present"] and report.aigc["matches_manifest"] is True


def test_soft_binding_timespans_are_per_frame_milliseconds(signer, tiny_mp4):
    import io

    import c2pa

    signed = signer.sign_segment(tiny_mp4, segment_info(0))
    with c2pa.Reader("video/mp4", io.BytesIO(signed.data)) as reader:
        assertions = {a["label"]: a["data"] for a in reader.get_active_manifest()["assertions"]}
    spans = [b["scope"]["timespan"] for b in assertions["c2pa.soft-binding"]["blocks"]]
    assert spans == [{"start": 40 * i, "end": 40 * (i + 1)} for i in range(5)]


def test_signing_writes_the_implicit_label_inside_the_hashed_file(signer, tiny_mp4):
    assert read_mp4_aigc(tiny_mp4) is None
    signed = signer.sign_segment(tiny_mp4, segment_info(0))
    assert read_mp4_aigc(signed.data) == segment_info(0).aigc


def test_one_byte_changed_in_mdat_makes_the_segment_invalid(segments, dev):
    tampered = bytearray(segments[0].data)
    mdat = tampered.find(b"mdat")
    tampered[mdat + 40] ^= 0x01
    report = verify_file(bytes(tampered), trust_anchors_pem=dev.ca_cert_pem, check_media=False)
    assert report.status == "invalid" and not report.ok and report.provenance_claimed
    assert any("bmffHash" in f["code"] for f in report.failures)


def test_changed_metadata_label_makes_the_segment_invalid(segments, dev):
    tampered = segments[0].data.replace(b'"Label":"1"', b'"Label":"0"')
    assert tampered != segments[0].data
    assert verify_file(tampered, trust_anchors_pem=dev.ca_cert_pem, check_media=False).status == "invalid"


def test_without_anchors_a_good_signature_is_valid_but_untrusted(segments):
    report = verify_file(segments[0].data, check_media=False)
    assert report.status == "valid" and report.ok
    assert [f["code"] for f in report.failures] == ["signingCredential.untrusted"]


def test_anchors_of_another_ca_do_not_vouch_for_our_signer(segments):
    stranger = generate_dev_credentials().ca_cert_pem
    report = verify_file(segments[0].data, trust_anchors_pem=stranger, check_media=False)
    assert report.status == "valid" and not report.ok


def test_segment_chain_names_each_previous_manifest(segments):
    reports = [verify_file(s.data, check_media=False) for s in segments]
    assert reports[1].manifest["segment"]["previousManifestId"] == segments[0].manifest_id
    assert check_segment_chain(reports) == []
    assert check_segment_chain(reports[::-1])  # out of order


def test_unsigned_file_claims_nothing(tiny_mp4):
    report = verify_file(tiny_mp4, check_media=False)
    assert report.status == "no_manifest" and report.ok and not report.provenance_claimed


@pytest.mark.parametrize("fmt, mime", [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_still_has_its_own_manifest_with_the_segment_as_parent(signer, segments, dev, fmt, mime):
    image = encode_image(synthetic_frames(64, 64, 1)[0], fmt)
    signed = signer.sign_still(image, mime, still_info(), segments[0].data)
    report = verify_file(signed.data, trust_anchors_pem=dev.ca_cert_pem, check_media=False)
    assert report.status == "trusted" and report.mime == mime
    assert report.manifest["ingredients"] == [{
        "title": "stream-3-segment-000000.mp4", "relationship": "parentOf",
        "active_manifest": segments[0].manifest_id}]
    assert report.manifest["actions"][0]["action"] == "c2pa.opened"
    assert report.manifest["actions"][0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert report.manifest["license"]["frame_index"] == 2
    assert read_image_aigc(signed.data) == still_info().aigc
    assert b"c2pa.thumbnail" not in signed.data  # thumbnails are off for frames


def test_recording_lists_its_segments_as_components(signer, segments, dev, tmp_path):
    source, dest = tmp_path / "joined.mp4", tmp_path / "signed.mp4"
    source.write_bytes(encode_mp4(synthetic_frames(64, 64, 10)))
    # Files both ways (a recording of hours is gigabytes); ingredients as paths or bytes.
    (tmp_path / "segment-0.mp4").write_bytes(segments[0].data)
    ingredients = [tmp_path / "segment-0.mp4", *(s.data for s in segments[1:])]
    info = RecordingInfo(**content(), stream_id=3, segment_manifest_ids=tuple(s.manifest_id for s in segments))
    manifest_id = signer.sign_recording(source, dest, info, ingredients)
    report = verify_file(dest.read_bytes(), trust_anchors_pem=dev.ca_cert_pem, check_media=False)
    assert report.status == "trusted" and report.manifest["manifest_id"] == manifest_id
    assert [(i["relationship"], i["active_manifest"]) for i in report.manifest["ingredients"]] == [
        ("componentOf", s.manifest_id) for s in segments]
    assert report.manifest["license"]["segment_manifest_ids"] == [s.manifest_id for s in segments]
    assert read_mp4_aigc(dest.read_bytes()) == info.aigc  # labelled in place before signing


def test_garbage_fails_to_sign_with_a_stable_code(signer, segments):
    with pytest.raises(ProvenanceError) as error:
        signer.sign_segment(b"\0\0\0\x10not an mp4 at all", segment_info(0))
    assert error.value.code == "mp4_no_moov"
    with pytest.raises(ProvenanceError) as error:
        signer.sign_still(b"not an image", "image/jpeg", still_info(), segments[0].data)
    assert error.value.code == "image_unsupported"


def test_unreachable_timestamp_authority_fails_signing(dev, tiny_mp4):
    signer = ProvenanceSigner(dev.credentials, tsa_url="http://127.0.0.1:9/tsa")
    with pytest.raises(ProvenanceError) as error:
        signer.sign_segment(tiny_mp4, segment_info(0))
    assert "timestamp authority" in str(error.value)
