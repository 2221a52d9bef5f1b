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

from providers import registry
from providers.local import LocalProvider
from providers.subprocess import SubprocessProvider
from tests.plugin_dists import fake_distribution

PROJECT = Path(__file__).resolve().parents[2]

PLUGIN = '''
from providers.base import Health


class DemoCloud:
    name = "democloud"
    supports_pause = False

    def __init__(self, settings):
        self.settings = settings

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
        return Health(ok=True, message="region " + self.settings.get("region", "?"))
'''


def install_plugins(site: Path) -> None:
    """Two third-party distributions: one that works, one that breaks on import."""
    (site / "aima_democloud").mkdir()
    (site / "aima_democloud" / "__init__.py").write_text(PLUGIN)
    (site / "aima_brokencloud").mkdir()
    (site / "aima_brokencloud" / "__init__.py").write_text(
        "raise ImportError('brokencloud needs libfoo, which is not installed')\n")
    for dist, name, target in (("aima_democloud", "democloud", "aima_democloud:DemoCloud"),
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
        }))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT)]),
           "AIMA_PROVIDERS": "democloud, brokencloud, subprocess, nosuchcloud",
           "AIMA_DEMOCLOUD_REGION": "eu-north", "AIMA_DEMOCLOUD_API_KEY": "s3cret",
           "AIMA_SUBPROCESS_STATE_DIR": str(tmp_path / "instances")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, cwd=PROJECT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["working"] == ["democloud", "subprocess"]
    assert result["health"] == "region eu-north"
    assert result["broken"]["brokencloud"] == (
        "ImportError: brokencloud needs libfoo, which is not installed")
    assert result["broken"]["nosuchcloud"].startswith("no installed plugin provides it")
    # Secrets never shown back.
    assert result["settings"] == {"region": "eu-north", "api_key": "••••"}
    assert "s3cret" not in done.stdout + done.stderr


def test_built_in_providers_are_declared_as_entry_points():
    assert {"subprocess", "local", "vastai", "runpod", "aws"} <= set(registry.discover())


def test_enabled_providers_and_their_settings_come_from_the_environment(tmp_path):
    env = {"AIMA_PROVIDERS": "local,subprocess", "AIMA_SUBPROCESS_PRICE_PER_HOUR": "0.9",
           "AIMA_SUBPROCESS_STATE_DIR": str(tmp_path)}
    loaded = registry.load(environ=env)
    assert list(loaded.providers) == ["local", "subprocess"]
    assert isinstance(loaded.get("local"), LocalProvider)
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
