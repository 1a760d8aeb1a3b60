"""`manage.py demo`: seed a small world through the services, show the gate deciding, verify the ledger.

Safe to run again: it finds the demo parties, consent and license it made before.
"""
from django.core.management import call_command
from django.core.management.base import BaseCommand

from consent.demo import DEMO_PASSWORD, DemoWorld, demo_requests, seed_demo_world
from consent.selectors import check_gate


class Command(BaseCommand):
    help = "Seed a demo talent, brand, legal reviewer, consent and license; show gate decisions; verify the ledger."

    def add_arguments(self, parser):
        parser.add_argument("--no-render", action="store_true", help="Stop after the consent part.")

    def handle(self, *args, **options):
        world = self.consent_part()
        if not options["no_render"]:
            from rendering.demo import run_render_demo

            self.heading("Clone, stream, provenance")
            run_render_demo(world, self.stdout)
        self.verify_ledger()

    def heading(self, text: str) -> None:
        self.stdout.write("\n" + self.style.MIGRATE_HEADING(f"== {text} =="))

    def consent_part(self) -> DemoWorld:
        self.heading("Consent and license")
        world = seed_demo_world()
        g, lic = world.grant, world.license
        lines = [
            f"talent           {world.talent.display_name} (user {world.talent.user.username}, "
            f"{world.talent.get_verification_display().lower()})",
            f"brand            {world.brand.name} (member {world.brand_user.username})",
            f"legal reviewer   {world.legal.username}",
            f"consent #{g.pk:<7} v{g.document_version}, {', '.join(g.modalities)}; uses {', '.join(g.permitted_uses)}",
            f"                 platforms {', '.join(g.platforms)}; categories {', '.join(g.allowed_categories)} "
            f"(excluded {', '.join(g.excluded_categories)}); {', '.join(g.territories)}, {', '.join(g.languages)}",
            f"                 prohibited: {'; '.join(g.prohibited_topics)}; valid until {g.valid_until:%Y-%m-%d}",
            f"likeness         portrait {world.portrait.sha256[:16]}…, voice {world.voice.sha256[:16]}… "
            f"({world.voice.duration_seconds:.1f} s)",
            f"license #{lic.pk:<7} {lic.status}: {', '.join(lic.platforms)} / {', '.join(lic.product_categories)}, "
            f"{lic.max_concurrent_streams} streams, {lic.max_hours_per_day} h/day, {lic.max_hours_total} h total, "
            f"until {lic.ends_at:%Y-%m-%d}",
            f"sign-in          each demo user's password is {DEMO_PASSWORD!r} (development only)",
        ]
        self.stdout.write("\n".join(lines))

        self.heading("License gate")
        for label, request in demo_requests():
            decision = check_gate(license_id=lic.pk, request=request)
            verdict = self.style.SUCCESS("ALLOWED") if decision.allowed else self.style.ERROR("DENIED")
            self.stdout.write(f"{label} request: {request.use} on {request.platform}, {request.product_category}, "
                              f"{request.territory}/{request.language}, script {request.script_text!r}")
            self.stdout.write(f"  → {verdict}")
            for reason in decision.reasons:
                self.stdout.write(f"    - {reason.code}: {reason.message}")
        return world

    def verify_ledger(self) -> None:
        self.heading("Audit ledger")
        call_command("verify_ledger", stdout=self.stdout, stderr=self.stderr)
