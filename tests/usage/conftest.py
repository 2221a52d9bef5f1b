"""The seeded month every usage test reads, in UTC (days and months cut at UTC midnight)."""

import pytest

from tests.usage.seed import seed


@pytest.fixture(autouse=True)
def utc(settings):
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def world(django_user_model):
    return seed(django_user_model)
