"""`manage.py export_ledger PATH`: write a bundle that a legal team verifies without the platform."""
from django.core.management.base import BaseCommand, CommandError

from consent.ledger import export_bundle, verify_bundle, verify_chain


class Command(BaseCommand):
    help = ("Export the audit ledger (events.jsonl, public key, signed manifest, offline verifier) into a new "
            "folder. Verify it anywhere with: python PATH/ledger_verify.py PATH")

    def add_arguments(self, parser):
        parser.add_argument("path", help="a folder that does not exist yet (or is empty)")

    def handle(self, *args, path, **options):
        # Refuse to hand out a bundle of a chain that is already broken: fix or report that first.
        report = verify_chain()
        if not report.ok:
            raise CommandError(f"Not exported: ledger {report.summary()}")
        try:
            manifest = export_bundle(path)
        except FileExistsError as exc:
            raise CommandError(str(exc)) from exc
        check = verify_bundle(path)
        if not check.ok:
            raise CommandError(f"The written bundle does not verify: {check.summary()}")
        self.stdout.write(self.style.SUCCESS(
            f"Exported {manifest['event_count']} events to {path}\n"
            f"  head hash:          {manifest['head_hash']}\n"
            f"  ledger key id:      {manifest['signed_by']}\n"
            f"  verify offline:     python {path}/ledger_verify.py {path}\n"
            f"Compare the key id with the one the platform publishes before trusting the bundle."))
