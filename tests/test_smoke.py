from django.core.management import call_command


def test_settings_load_and_migrations_are_complete(db):
    # makemigrations --check fails if a model changed without a migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
