"""From a watermark found in a frame back to the stream, segment, frame, license and talent."""
import torch

from rendering import media, pipeline, selectors, services
from tests.rendering.test_streams import new_stream
from watermark.payload import Payload


def test_a_watermark_read_from_a_published_segment_leads_to_the_stream_license_and_talent(ready_clone):
    stream = new_stream(ready_clone, seconds=2.0)
    services.start_stream(stream_id=stream.pk)
    pipeline.run_segment(stream.pk, 0)
    pipeline.run_segment(stream.pk, 1)
    segment = stream.segments.get(sequence=1)
    frames = media.decode_video(segment.file.open("rb").read())

    detection = pipeline.watermarker().detect(torch.from_numpy(frames[3]))
    assert (detection.stream_id, detection.segment) == (stream.pk, 1)
    match = selectors.lookup_payload(Payload(detection.stream_id, detection.segment, 3))

    assert match.stream == stream and match.segment == segment and match.frame == 3
    assert match.stream_frame == 13 and match.seconds == 1.3
    assert match.license == stream.license and match.talent == stream.license.talent
    assert match.as_dict()["talent_name"] == stream.license.talent.display_name
    assert selectors.lookup_payload(Payload(stream.pk, 1, 3).hex()) == match


def test_a_payload_of_an_unknown_stream_or_unpublished_segment(ready_clone):
    stream = new_stream(ready_clone, seconds=2.0)
    assert selectors.lookup_payload(Payload(stream.pk + 1000, 0, 0)) is None
    match = selectors.lookup_payload(Payload(stream.pk, 5, 2))
    assert match.stream == stream and match.segment is None and match.stream_frame is None
