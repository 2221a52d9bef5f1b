import pytest


@pytest.fixture(autouse=True)
def quick_password_hashes(settings):
    """These tests log in dozens of times; the real hasher is slow by design."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
