"""Shared fixtures. Media written by tests goes to a temporary folder, never the data folder."""
import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def _keys_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(autouse=True)
def _keys_in_tmp(settings, _keys_dir):
    # Ledger and C2PA keys made by tests never land in the data folder (made once per run: slow-ish).
    settings.LEDGER_SIGNING_KEY_PATH = _keys_dir / "ledger-ed25519.pem"
    settings.PROVENANCE_DIR = _keys_dir / "provenance"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL, let the test database be flushed between transactional tests.

    The ledger's trigger refuses TRUNCATE unless a superuser session sets
    `consentframe.ledger_maintenance` (consent/migrations/0002); Django's flush truncates every table.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock():
            with connection.cursor() as cursor:
                name = connection.ops.quote_name(connection.settings_dict["NAME"])
                cursor.execute(f"ALTER DATABASE {name} SET consentframe.ledger_maintenance = 'on'")
            connection.close()  # the setting applies to sessions opened from now on
