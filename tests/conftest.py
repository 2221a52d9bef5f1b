"""Shared fixtures: users with API tokens, and sample media written per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from aima_tasks import samples


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, staff: bool = False):
        return django_user_model.objects.create_user(username=username, password="pw-" + username,
                                                     is_staff=staff)

    return make


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def api(alice) -> APIClient:
    return client_for(alice)


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
def media_root(settings, tmp_path: Path) -> Path:
    """Each test stores media in a folder of its own."""
    settings.AIMA_MEDIA_ROOT = tmp_path / "media"
    return settings.AIMA_MEDIA_ROOT
