"""Shared fixtures. Media written by tests goes to a temporary folder, never the data folder."""
import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


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
