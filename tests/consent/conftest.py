"""Fixtures for the consent tests: eager Celery, the usual parties (keys in tmp: tests/conftest.py)."""
import pytest

from config.celery import app as celery_app
from tests.factories import (
    ActiveLicenseFactory, BrandOwnerFactory, ConsentGrantFactory, LegalReviewerFactory, PlatformAdminFactory,
    TalentFactory,
)


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
