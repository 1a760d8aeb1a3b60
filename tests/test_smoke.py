import pytest
from django.core.management import call_command


def test_settings_load_and_migrations_are_complete(db):
    # makemigrations --check fails if a model changed without a migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def _settings_in_a_fresh_process(env: dict, code: str = "") -> str:
    import os
    import subprocess
    import sys

    code = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.CACHES['default']['BACKEND'])" + code)
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True)
    return done.stdout.strip() or done.stderr


def test_a_cache_url_shares_lockouts_and_checkpoints_through_redis():
    assert _settings_in_a_fresh_process({"CACHE_URL": ""}).endswith("LocMemCache")
    assert _settings_in_a_fresh_process({"CACHE_URL": "redis://127.0.0.1:6379/3"}).endswith("RedisCache")
    assert "CACHE_URL must be a redis:// URL" in _settings_in_a_fresh_process({"CACHE_URL": "memcached://x"})


def test_the_redis_cache_round_trips_when_redis_runs():
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    out = _settings_in_a_fresh_process(
        {"CACHE_URL": "redis://127.0.0.1:6379/3"},
        "; from django.core.cache import cache; cache.set('consentframe-smoke', 42, 10); "
        "print(cache.get('consentframe-smoke'))")
    assert out.splitlines()[-1] == "42"
