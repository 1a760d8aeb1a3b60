"""Create (or check) the C2PA signing credentials this deployment uses."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rendering import provenance
from watermark.credentials import CHAIN_FILE, CredentialError, check_signing_chain, load_chain


class Command(BaseCommand):
    help = (
        "Generate a development CA and C2PA signing certificate in PROVENANCE_DIR (kept outside git), "
        "or, when C2PA_SIGNING_CERT_PATH is set, check that certificate."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Replace existing development credentials.")

    def handle(self, *args, force=False, **options):
        if settings.C2PA_SIGNING_CERT_PATH:
            if force:
                raise CommandError("C2PA_SIGNING_CERT_PATH is set: production credentials are not regenerated.")
            try:
                cert = check_signing_chain(provenance.credentials().chain_pem)
            except CredentialError as exc:
                raise CommandError(f"{exc.code}: {exc}") from exc
            self.stdout.write(f"Signing certificate OK: {cert.subject.rfc4514_string()}, "
                              f"valid until {cert.not_valid_after_utc:%Y-%m-%d}")
            return
        paths = provenance.ensure_dev_credentials(force=force)
        provenance.reset()
        cert = load_chain(paths[CHAIN_FILE].read_text())[0]
        self.stdout.write(self.style.SUCCESS(f"Development C2PA credentials in {settings.PROVENANCE_DIR}"))
        for name, path in paths.items():
            self.stdout.write(f"  {name}: {path}")
        self.stdout.write(f"  signer: {cert.subject.rfc4514_string()}, valid until {cert.not_valid_after_utc:%Y-%m-%d}")
        self.stdout.write("  For production set C2PA_SIGNING_CERT_PATH / C2PA_SIGNING_KEY_PATH / C2PA_TSA_URL.")
