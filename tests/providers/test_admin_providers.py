"""The admin's providers, above the cloud instances: read-only, each enabled
provider loaded or broken with why, and its declared settings with every
secret masked."""

from __future__ import annotations

import pytest
from django.core import checks

from aima_web.access.roles import Role
from aima_web.instances import registry

pytestmark = pytest.mark.django_db

PAGE = "/admin/instances/cloudinstance/"
VAST_KEY = "vast-secret-7f3a"
RUNPOD_KEY = "rpa_SECRET_91c2"


@pytest.fixture
def enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMA_PROVIDERS", "vastai,runpod")
    monkeypatch.setenv("AIMA_VASTAI_API_KEY", VAST_KEY)
    monkeypatch.setenv("AIMA_VASTAI_IMAGE", "registry.test/aima-agent:vast")
    monkeypatch.setenv("AIMA_RUNPOD_API_KEY", RUNPOD_KEY)
    monkeypatch.setenv("AIMA_RUNPOD_BOOT_S", "soon")
    monkeypatch.setattr(registry, "_registry", None)


@pytest.mark.usefixtures("enabled")
def test_operators_see_each_provider_with_its_settings_masked(client, make_user) -> None:
    client.force_login(make_user("olga", staff=True, role=Role.OPERATOR))

    page = client.get(PAGE)

    assert page.status_code == 200
    text = page.content.decode()
    assert VAST_KEY not in text and RUNPOD_KEY not in text
    assert "vastai: loaded" in text and "runpod: broken" in text
    assert "SettingsError: AIMA_RUNPOD_BOOT_S must be a number, not &#x27;soon&#x27;" in text
    assert "pause, spot, regions, multi-GPU" in text
    assert "AIMA_VASTAI_IMAGE" in text and "registry.test/aima-agent:vast" in text
    assert "AIMA_VASTAI_TIMEOUT_S" in text and "(default: 30.0)" in text
    assert "(one of: SECURE, COMMUNITY, ALL)" in text
    [vast] = [row for row in page.context["provider_rows"] if row.name == "vastai"]
    assert {s.variable: s.value for s in vast.settings}["AIMA_VASTAI_API_KEY"] == "••••"


@pytest.mark.usefixtures("enabled")
def test_staff_without_a_role_do_not_see_it(client, make_user) -> None:
    client.force_login(make_user("sam", staff=True, role=None))
    assert client.get(PAGE).status_code == 403


@pytest.mark.usefixtures("enabled")
def test_manage_py_check_warns_of_a_broken_provider() -> None:
    [warning] = checks.run_checks(tags=["aima"])
    assert warning.id == "aima.W001" and warning.level == checks.WARNING
    assert warning.msg == ("provider runpod is enabled but broken: SettingsError: "
                           "AIMA_RUNPOD_BOOT_S must be a number, not 'soon'")
