"""GB 45438 implicit label: written into MP4 moov/udta/meta and image XMP, and read back."""
import io

import av
import numpy as np
import pytest
from PIL import Image

from watermark.aigc import (
    AigcError, AigcLabel, read_image_aigc, read_mp4_aigc, read_mp4_aigc_file, write_image_aigc, write_mp4_aigc,
    write_mp4_aigc_file,
)

from .conftest import decode_mp4, encode_image, encode_mp4, synthetic_frames

LABEL = AigcLabel(content_producer="Consentframe 数字人平台", produce_id="stream-9/segment-4",
                  content_propagator="Acme <Live> & Co")


@pytest.mark.parametrize("size", [(64, 64), (160, 90), (90, 160)])
@pytest.mark.parametrize("faststart", [False, True])
def test_mp4_round_trip_keeps_every_frame(tmp_path, size, faststart):
    frames = synthetic_frames(*size, 4)
    original = encode_mp4(frames, faststart_path=tmp_path / "f.mp4" if faststart else None)
    labelled = write_mp4_aigc(original, LABEL)
    assert read_mp4_aigc(original) is None
    assert read_mp4_aigc(labelled) == LABEL
    # Moving moov (faststart) shifts the samples: the chunk offsets must follow.
    np.testing.assert_array_equal(decode_mp4(labelled), decode_mp4(original))


@pytest.mark.parametrize("faststart", [False, True])
def test_mp4_file_is_labelled_in_place_like_the_bytes(tmp_path, faststart):
    # Recordings are files of hours: with moov last only the moov is rewritten, otherwise the whole file.
    original = encode_mp4(synthetic_frames(64, 64, 4), faststart_path=tmp_path / "f.mp4" if faststart else None)
    path = tmp_path / "recording.mp4"
    path.write_bytes(original)
    assert read_mp4_aigc_file(path) is None
    write_mp4_aigc_file(path, LABEL)
    assert path.read_bytes() == write_mp4_aigc(original, LABEL)
    assert read_mp4_aigc_file(path) == LABEL
    (tmp_path / "torn.mp4").write_bytes(original[:100])
    with pytest.raises(AigcError):
        write_mp4_aigc_file(tmp_path / "torn.mp4", LABEL)


def test_ffmpeg_reads_our_mp4_key_and_rewriting_replaces_it():
    labelled = write_mp4_aigc(encode_mp4(synthetic_frames(64, 64, 2)), LABEL)
    with av.open(io.BytesIO(labelled)) as container:
        assert container.metadata["AIGC"] == LABEL.to_json()
    relabelled = write_mp4_aigc(labelled, AigcLabel(content_producer="Other", produce_id="2"))
    assert read_mp4_aigc(relabelled).content_producer == "Other"
    assert relabelled.count(b"ContentProducer") == 1


def test_other_mdta_keys_written_by_ffmpeg_are_kept(tmp_path):
    path = tmp_path / "tagged.mp4"
    with av.open(str(path), "w", format="mp4", options={"movflags": "use_metadata_tags"}) as container:
        container.metadata["com.example.note"] = "keep me"
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for frame in synthetic_frames(64, 64, 2):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    labelled = write_mp4_aigc(path.read_bytes(), LABEL)
    with av.open(io.BytesIO(labelled)) as container:
        assert container.metadata["com.example.note"] == "keep me"
    assert read_mp4_aigc(labelled) == LABEL


def test_json_field_names_follow_appendix_e():
    assert LABEL.as_dict() == {
        "Label": "1", "ContentProducer": "Consentframe 数字人平台", "ProduceID": "stream-9/segment-4",
        "ReservedCode1": "", "ContentPropagator": "Acme <Live> & Co", "PropagateID": "", "ReservedCode2": ""}
    assert AigcLabel.from_json('{"AIGC": %s}' % LABEL.to_json()) == LABEL  # wrapped form read too


@pytest.mark.parametrize("fmt, mime", [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_image_round_trip(fmt, mime):
    array = synthetic_frames(48, 32, 1)[0]
    original = encode_image(array, fmt)
    labelled = write_image_aigc(original, mime, LABEL)
    assert read_image_aigc(original) is None
    assert read_image_aigc(labelled) == LABEL
    assert b"http://www.tc260.org.cn/ns/AIGC/1.0/" in labelled
    decoded = np.asarray(Image.open(io.BytesIO(labelled)).convert("RGB"))
    np.testing.assert_array_equal(decoded, np.asarray(Image.open(io.BytesIO(original)).convert("RGB")))
    relabelled = write_image_aigc(labelled, mime, AigcLabel(content_producer="B", produce_id="2"))
    assert read_image_aigc(relabelled).content_producer == "B"
    assert relabelled.count(b"<TC260:AIGC>") == 1


def test_existing_xmp_is_merged_not_replaced():
    foreign = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
               b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:format>image/jpeg'
               b'</dc:format></rdf:Description></rdf:RDF></x:xmpmeta>')
    jpeg = encode_image(synthetic_frames(32, 32, 1)[0], "JPEG")
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + foreign
    with_xmp = jpeg[:2] + b"\xff\xe1" + len(payload + b"..").to_bytes(2, "big") + payload + jpeg[2:]
    labelled = write_image_aigc(with_xmp, "image/jpeg", LABEL)
    assert read_image_aigc(labelled) == LABEL
    assert b"<dc:format>image/jpeg</dc:format>" in labelled
    Image.open(io.BytesIO(labelled)).load()
    relabelled = write_image_aigc(labelled, "image/jpeg", AigcLabel(content_producer="B", produce_id="2"))
    assert read_image_aigc(relabelled).content_producer == "B"
    assert relabelled.count(b"TC260:AIGC>") == 2  # one element: its opening and closing tags
    assert b"image/jpeg</dc:format>" in relabelled


def test_malformed_label_json_is_reported():
    broken = write_mp4_aigc(encode_mp4(synthetic_frames(64, 64, 1)), LABEL).replace(b'{"Label"', b'{"Label"'[:-1] + b"!")
    with pytest.raises(AigcError) as error:
        read_mp4_aigc(broken)
    assert error.value.code == "aigc_malformed"


def test_unsupported_inputs_are_refused_with_codes():
    with pytest.raises(AigcError) as error:
        write_mp4_aigc(b"\x00\x00\x00\x08free", LABEL)
    assert error.value.code == "mp4_no_moov"
    with pytest.raises(AigcError) as error:
        write_image_aigc(b"GIF89a", "image/gif", LABEL)
    assert error.value.code == "image_unsupported"
