"""Shared fixtures: users with API tokens, and sample media written per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.test import APIClient

from agents import samples
from aima_web.access.roles import Role
from aima_web.accounts import tokens
from aima_web.accounts.models import ApiToken


@pytest.fixture
def make_user(django_user_model):
    """A user with a role (none: no group); users submit jobs as analysts."""

    def make(username: str, staff: bool = False, role: Role | None = Role.ANALYST):
        user = django_user_model.objects.create_user(username=username,
                                                     password="pw-" + username, is_staff=staff)
        if role is not None:
            user.groups.add(Group.objects.get(name=role.label))
        return user

    return make


def client_for(user) -> APIClient:
    client = APIClient()
    secret = tokens.issue(ApiToken(user=user, name="test"), "test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def api(alice) -> APIClient:
    return client_for(alice)


@pytest.fixture
def operator_api(make_user) -> APIClient:
    """An operator: sees every job and GPUs with their telemetry, drains GPUs."""
    return client_for(make_user("olga", role=Role.OPERATOR))


@pytest.fixture
def video_file(tmp_path: Path) -> samples.VideoSample:
    return samples.write_video(tmp_path / "clip.mp4")


@pytest.fixture
def image_file(tmp_path: Path) -> samples.ImageSample:
    return samples.write_image(tmp_path / "photo.jpg")


@pytest.fixture
def audio_file(tmp_path: Path) -> samples.AudioSample:
    return samples.write_audio(tmp_path / "voice.wav")


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """The API's throttles count in the cache: each test starts with none used."""
    cache.clear()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """Each test stores media in a folder of its own."""
    settings.AIMA_MEDIA_ROOT = tmp_path / "media"
    return settings.AIMA_MEDIA_ROOT


# Suites CI runs as steps of their own (.ci/run: ``-m fuzz``, ``-m browser``, ``-m chaos``):
# a run that does not ask for one by its marker leaves it out.
OWN_STEPS = ("fuzz", "browser", "chaos")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = config.getoption("markexpr") or ""
    left_out = [item for item in items
                if any(item.get_closest_marker(step) and step not in asked
                       for step in OWN_STEPS)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
