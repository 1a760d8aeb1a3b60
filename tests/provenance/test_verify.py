"""The verifier end to end on a segment made like the pipeline makes it, and the management commands."""
import json
import os
from dataclasses import replace

import pytest
import torch
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from rendering import provenance
from watermark.labels import ExplicitLabel
from watermark.provenance import SoftBindingBlock
from watermark.verify import verify_file

from .conftest import encode_image, encode_mp4, segment_info, still_info, synthetic_frames

@pytest.fixture(scope="module")
def pipeline_segment(signer):
    """320x180 (the watermark's smallest size), labelled, watermarked, encoded, signed."""
    engine = pytest.importorskip("watermark.engine")
    frames = torch.from_numpy(synthetic_frames(320, 180, 6).copy())
    ExplicitLabel(320, 180, fps=25).apply(frames, first_frame_index=50)
    marker = engine.Watermarker()
    frames = marker.embed_segment(frames, stream_id=3, segment=4)
    blocks = tuple(SoftBindingBlock(i / 25, (i + 1) / 25, f"{3:08x}{4:05x}{i:02x}") for i in range(6))
    info = replace(segment_info(4, "urn:c2pa:00000000-0000-0000-0000-000000000000"), soft_bindings=blocks)
    return signer.sign_segment(encode_mp4(frames.numpy()), info), frames[0].numpy()


def test_report_covers_manifest_both_labels_and_the_watermark(pipeline_segment, dev):
    signed, _ = pipeline_segment
    report = verify_file(signed.data, trust_anchors_pem=dev.ca_cert_pem)
    assert report.ok and report.status == "trusted"
    assert report.aigc["present"] and report.aigc["matches_manifest"]
    assert report.explicit_label["present"] and report.explicit_label["checked_frames"] == 3
    assert report.watermark["status"] == "checked"
    assert (report.watermark["stream_id"], report.watermark["segment"]) == (3, 4)
    assert report.watermark["matches_manifest"] is True
    summary = report.summary()
    assert summary.startswith("OK") and "explicit label: present" in summary
    json.dumps(report.as_dict())


def test_still_from_the_segment_verifies_with_labels(pipeline_segment, signer, dev):
    signed, frame = pipeline_segment
    still = signer.sign_still(encode_image(frame, "PNG"), "image/png", still_info(), signed.data)
    report = verify_file(still.data, trust_anchors_pem=dev.ca_cert_pem)
    assert report.status == "trusted" and report.aigc["present"] and report.explicit_label["present"]


@pytest.fixture
def dev_settings(settings, tmp_path):
    settings.PROVENANCE_DIR = tmp_path / "provenance"
    settings.C2PA_SIGNING_CERT_PATH = settings.C2PA_SIGNING_KEY_PATH = settings.C2PA_TRUST_ANCHORS_PATH = ""
    settings.C2PA_TSA_URL = ""
    provenance.reset()
    yield settings
    provenance.reset()


def test_provenance_init_then_sign_and_verify_command(dev_settings, tmp_path, capsys, tiny_mp4):
    call_command("provenance_init")
    assert os.stat(dev_settings.PROVENANCE_DIR / "signer-key.pem").st_mode & 0o077 == 0
    signed = provenance.get_signer().sign_segment(tiny_mp4, segment_info(0))
    path = tmp_path / "segment.mp4"
    path.write_bytes(signed.data)
    capsys.readouterr()
    call_command("verify", str(path), "--no-media")
    assert "C2PA manifest valid, signer trusted" in capsys.readouterr().out
    call_command("verify", str(path), "--json", "--no-media")
    assert json.loads(capsys.readouterr().out)["status"] == "trusted"

    tampered = bytearray(signed.data)
    tampered[tampered.find(b"mdat") + 40] ^= 1
    path.write_bytes(bytes(tampered))
    with pytest.raises(CommandError) as error:
        call_command("verify", str(path), "--no-media")
    assert error.value.returncode == 1


def test_signer_generates_dev_credentials_on_first_use_and_reuses_them(dev_settings):
    first = provenance.get_signer()
    chain = (dev_settings.PROVENANCE_DIR / "signer-chain.pem").read_text()
    provenance.reset()
    assert provenance.get_signer() is not first
    assert (dev_settings.PROVENANCE_DIR / "signer-chain.pem").read_text() == chain
    assert provenance.get_signer() is provenance.get_signer()


def test_renewed_dev_credentials_keep_trusting_earlier_segments(dev_settings, tiny_mp4):
    old_signer = provenance.get_signer()
    before = old_signer.sign_segment(tiny_mp4, segment_info(0))
    call_command("provenance_init", "--force")
    new_signer = provenance.get_signer()
    assert new_signer.credentials.chain_pem != old_signer.credentials.chain_pem
    after = new_signer.sign_segment(tiny_mp4, segment_info(1, before.manifest_id))
    assert provenance.verify(before.data, check_media=False).status == "trusted"
    assert provenance.verify(after.data, check_media=False).status == "trusted"


def test_half_configured_production_credentials_are_refused(dev_settings):
    dev_settings.C2PA_SIGNING_CERT_PATH = "/etc/consentframe/c2pa-chain.pem"
    with pytest.raises(ImproperlyConfigured):
        provenance.get_signer()


def test_aigc_defaults_come_from_settings(dev_settings):
    dev_settings.AIGC_CONTENT_PRODUCER = "Example Platform"
    dev_settings.AIGC_CONTENT_PROPAGATOR = "Example CDN"
    label = provenance.aigc_label(produce_id=provenance.produce_id(stream_id=5, sequence=2))
    assert (label.content_producer, label.content_propagator, label.produce_id) == (
        "Example Platform", "Example CDN", "stream-5/segment-2")
