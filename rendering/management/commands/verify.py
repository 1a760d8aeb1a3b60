"""Verify a file's provenance: C2PA manifest, GB 45438 labels and the watermark."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rendering import provenance
from watermark.verify import report_json, verify_file


class Command(BaseCommand):
    help = (
        "Check an MP4, JPEG or PNG: C2PA validation (against this deployment's trust anchors), the AIGC "
        "implicit label, the visible label and the watermark. Exits 1 when provenance is claimed but does not hold."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--json", action="store_true", help="Print the full report as JSON.")
        parser.add_argument("--anchors", type=Path, help="Trust anchors PEM to use instead of the configured ones.")
        parser.add_argument("--no-media", action="store_true", help="Skip decoding (visible label, watermark).")

    def handle(self, *args, path: Path, json=False, anchors=None, no_media=False, **options):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        anchors_pem = anchors.read_text() if anchors else provenance.trust_anchors_pem()
        report = verify_file(
            data, trust_anchors_pem=anchors_pem, watermarker=provenance.watermarker(), check_media=not no_media
        )
        self.stdout.write(report_json(report) if json else report.summary())
        if not report.ok:
            raise CommandError(f"{path}: provenance does not hold ({report.status}).", returncode=1)
