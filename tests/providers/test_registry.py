"""Provider discovery through the ``aima.providers`` entry-point group, with
plugins that live outside this project, installed the way pip installs them
(a ``*.dist-info`` folder with ``entry_points.txt`` on the path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from providers import registry
from providers.settings_schema import MASK, Setting, SettingsError, parse
from providers.subprocess import SubprocessProvider
from providers.vastai import VastAiProvider
from tests.plugin_dists import fake_distribution

PROJECT = Path(__file__).resolve().parents[2]

PLUGIN = '''
from providers.base import Health
from providers.settings_schema import Setting, parse

SETTINGS = (Setting("region", str, "eu-west"), Setting("api_key", str, secret=True),
            Setting("token_budget", int, 10))


class DemoCloud:
    name = "democloud"
    supports_pause = False

    def __init__(self, settings):
        self.settings = parse("democloud", SETTINGS, settings)

    def offers(self, requirements):
        return []

    def launch(self, offer, spec):
        raise NotImplementedError

    def describe(self, instance_id):
        raise NotImplementedError

    def list_instances(self, tags):
        return []

    def terminate(self, instance_id):
        return None

    def pause(self, instance_id):
        raise NotImplementedError

    resume = pause

    def health(self):
        return Health(ok=True, message="region " + self.settings["region"])

'''

# A plugin that declares no settings schema: nothing says which values are secret.
PLAIN_PLUGIN = '''
from providers.base import Health


class PlainCloud:
    name = "plaincloud"
    supports_pause = False
    offers = list_instances = lambda self, _: []
    launch = describe = terminate = pause = resume = lambda self, *_: None

    def __init__(self, settings):
        self.settings = {"region": settings.get("region", "?")}

    def health(self):
        return Health(ok=True, message="plain")
'''


def install_plugins(site: Path) -> None:
    """Third-party distributions: two that work (one without a settings schema), one
    that breaks on import."""
    (site / "aima_democloud").mkdir()
    (site / "aima_democloud" / "__init__.py").write_text(PLUGIN)
    (site / "aima_plaincloud").mkdir()
    (site / "aima_plaincloud" / "__init__.py").write_text(PLAIN_PLUGIN)
    (site / "aima_brokencloud").mkdir()
    (site / "aima_brokencloud" / "__init__.py").write_text(
        "raise ImportError('brokencloud needs libfoo, which is not installed')\n")
    for dist, name, target in (("aima_democloud", "democloud", "aima_democloud:DemoCloud"),
                               ("aima_plaincloud", "plaincloud", "aima_plaincloud:PlainCloud"),
                               ("aima_brokencloud", "brokencloud", "aima_brokencloud:Cloud")):
        fake_distribution(site, dist, "aima.providers", name, target)


def test_an_installed_third_party_plugin_is_found_and_a_broken_one_reported(tmp_path):
    install_plugins(tmp_path)
    script = textwrap.dedent("""
        import json
        from providers import registry
        loaded = registry.load()
        print(json.dumps({
            "working": list(loaded.providers),
            "health": loaded.get("democloud").health().message,
            "broken": loaded.broken,
            "settings": loaded.settings["democloud"],
            "plain": loaded.settings["plaincloud"],
        }))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT)]),
           "AIMA_PROVIDERS": "democloud, plaincloud, brokencloud, subprocess, nosuchcloud",
           "AIMA_DEMOCLOUD_REGION": "eu-north", "AIMA_DEMOCLOUD_API_KEY": "s3cret",
           "AIMA_DEMOCLOUD_TOKEN_BUDGET": "5", "AIMA_PLAINCLOUD_REGION": "us-east",
           "AIMA_SUBPROCESS_STATE_DIR": str(tmp_path / "instances")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, cwd=PROJECT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["working"] == ["democloud", "plaincloud", "subprocess"]
    assert result["health"] == "region eu-north"
    assert result["broken"]["brokencloud"] == (
        "ImportError: brokencloud needs libfoo, which is not installed")
    assert result["broken"]["nosuchcloud"].startswith("no installed plugin provides it")
    # Secrets never shown back: masked by the schema's flags, not by words in
    # a name ("token_budget" is no secret); without a schema, every value is.
    assert result["settings"] == {"region": "eu-north", "api_key": "••••", "token_budget": "5"}
    assert result["plain"] == {"region": "••••"}
    assert "s3cret" not in done.stdout + done.stderr


def test_built_in_providers_are_declared_as_entry_points():
    assert {"subprocess", "vastai", "runpod", "aws"} <= set(registry.discover())
    # On-premises GPUs are registered hosts with agents, not a provider.
    assert "local" not in registry.discover()


def test_enabled_providers_and_their_settings_come_from_the_environment(tmp_path):
    env = {"AIMA_PROVIDERS": "subprocess", "AIMA_SUBPROCESS_PRICE_PER_HOUR": "0.9",
           "AIMA_SUBPROCESS_STATE_DIR": str(tmp_path)}
    loaded = registry.load(environ=env)
    assert list(loaded.providers) == ["subprocess"]
    assert isinstance(loaded.get("subprocess"), SubprocessProvider)
    assert loaded.get("subprocess").config.price_per_hour == 0.9
    assert registry.enabled_names({}) == ("subprocess",)


def test_a_bad_setting_is_reported_with_what_to_write(tmp_path):
    env = {"AIMA_PROVIDERS": "subprocess", "AIMA_SUBPROCESS_GPU": "A100",
           "AIMA_SUBPROCESS_STATE_DIR": str(tmp_path)}
    loaded = registry.load(environ=env)
    assert "write NAME:VRAM_GB" in loaded.broken["subprocess"]
    try:
        loaded.get("subprocess")
    except LookupError as exc:
        assert "write NAME:VRAM_GB" in str(exc)
    else:
        raise AssertionError("a broken provider must not be handed out")


def test_settings_are_checked_against_the_schema_before_the_provider_is_made():
    loaded = registry.load(("vastai",), environ={
        "AIMA_VASTAI_API_KEY": "k3y", "AIMA_VASTAI_TIMEOUT": "30"})
    assert loaded.broken["vastai"] == (
        "SettingsError: AIMA_VASTAI_TIMEOUT: not a setting of provider 'vastai' (it has: "
        "api_key, boot_s, image, retries, storage_gb, timeout_s, url)")
    # Shown even though broken, secrets masked.
    assert loaded.settings["vastai"] == {"api_key": MASK, "timeout": "30"}


@pytest.mark.parametrize(("environ", "shown"), [
    ({"AIMA_VASTAI_API_KEY": "k3y", "AIMA_VASTAI_URL": "http://vast.test"},
     {"api_key": MASK, "url": "http://vast.test"}),
    ({"AIMA_VASTAI_API_KEY": "k3y", "AIMA_VASTAI_IMAGE": "registry.test/agent:7"},
     {"api_key": MASK, "image": "registry.test/agent:7"}),
])
def test_working_providers_show_their_settings_masked_and_typed(environ, shown):
    loaded = registry.load(("vastai",), environ=environ)
    assert isinstance(loaded.get("vastai"), VastAiProvider)
    assert loaded.settings["vastai"] == shown
    assert loaded.values["vastai"]["timeout_s"] == 30.0
    assert "k3y" not in repr(loaded)


def test_each_provider_may_name_its_own_agent_image():
    own = registry.load(("vastai",), environ={"AIMA_VASTAI_API_KEY": "k",
                                               "AIMA_VASTAI_IMAGE": "registry.test/agent:7"})
    assert own.agent_image("vastai") == "registry.test/agent:7"
    default = registry.load(("vastai",), environ={"AIMA_VASTAI_API_KEY": "k"})
    assert default.agent_image("vastai") == ""  # the deployment's AIMA_AGENT_IMAGE applies
    assert default.agent_image("nosuchcloud") == ""


def test_a_check_finds_what_would_break_without_making_any_provider(tmp_path):
    env = {"AIMA_SUBPROCESS_STATE_DIR": str(tmp_path / "never-made"),
           "AIMA_VASTAI_API_KEY": "k", "AIMA_VASTAI_RETRIES": "three"}
    problems = registry.check(("subprocess", "vastai", "nosuchcloud"), environ=env)
    assert set(problems) == {"vastai", "nosuchcloud"}
    assert problems["vastai"] == "SettingsError: AIMA_VASTAI_RETRIES must be a whole number, " \
                                 "not 'three'"
    assert not (tmp_path / "never-made").exists()  # the subprocess provider was not made


def test_a_setting_with_choices_takes_one_of_them_as_spelt_in_the_schema():
    schema = (Setting("cloud_type", str, "ALL", choices=("SECURE", "COMMUNITY", "ALL")),)
    assert parse("runpod", schema, {"cloud_type": "community"}) == {"cloud_type": "COMMUNITY"}
    assert parse("runpod", schema, {}) == {"cloud_type": "ALL"}
    with pytest.raises(SettingsError, match="AIMA_RUNPOD_CLOUD_TYPE must be one of SECURE, "
                                            "COMMUNITY, ALL, not 'cheap'"):
        parse("runpod", schema, {"cloud_type": "cheap"})
