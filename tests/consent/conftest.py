"""Fixtures for the consent tests: a ledger key of their own, eager Celery, the usual parties."""
import pytest

from config.celery import app as celery_app
from tests.factories import (
    ActiveLicenseFactory, BrandOwnerFactory, ConsentGrantFactory, LegalReviewerFactory, PlatformAdminFactory,
    TalentFactory,
)


@pytest.fixture(scope="session")
def _ledger_key_path(tmp_path_factory):
    return tmp_path_factory.mktemp("ledger-key") / "ledger-ed25519.pem"


@pytest.fixture(autouse=True)
def _ledger_key_in_tmp(settings, _ledger_key_path):
    settings.LEDGER_SIGNING_KEY_PATH = _ledger_key_path


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The demo creates users with passwords; the real hasher is slow by design.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher",
                                 "django.contrib.auth.hashers.PBKDF2PasswordHasher"]


@pytest.fixture
def eager_celery():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield celery_app
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def talent(db):
    return TalentFactory()


@pytest.fixture
def grant(talent):
    return ConsentGrantFactory(talent=talent)


@pytest.fixture
def brand_owner(db):
    return BrandOwnerFactory()


@pytest.fixture
def brand(brand_owner):
    return brand_owner.brand


@pytest.fixture
def brand_user(brand_owner):
    return brand_owner.user


@pytest.fixture
def legal(db):
    return LegalReviewerFactory()


@pytest.fixture
def admin_user(db):
    return PlatformAdminFactory()


@pytest.fixture
def active_license(grant, brand, brand_user):
    return ActiveLicenseFactory(grant=grant, brand=brand, requested_by=brand_user)
