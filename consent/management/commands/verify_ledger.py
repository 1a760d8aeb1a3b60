"""`manage.py verify_ledger`: recompute the chain and every signature; exit non-zero at the first bad event."""
from django.core.management.base import BaseCommand, CommandError

from consent.ledger import verify_chain


class Command(BaseCommand):
    help = "Verify the audit ledger's hash chain and Ed25519 signatures. Exits 1 naming the first bad event."

    def handle(self, *args, **options):
        report = verify_chain()
        if not report.ok:
            raise CommandError(f"Ledger {report.summary()}")
        self.stdout.write(self.style.SUCCESS(f"Ledger {report.summary()}"))
