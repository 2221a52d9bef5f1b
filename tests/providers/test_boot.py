"""The VM providers' shared boot script (providers/boot.py), run by bash with a
VM's file system under a test folder and stand-ins for the VM's docker,
systemctl and chown, which a test must never run for real."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from providers import aws_boot, azure_boot, boot, gcp_boot
from providers.base import LaunchSpec
from providers.errors import ProviderError

IMAGE = "ghcr.io/aima/agent:1.4"
SECRET = "s3cr3t-agent-token"
TRICKY = "it's $(touch pwned) `touch pwned2` \"q\" \\ $HOME a=b #c  "

STAND_INS = {
    # Notes every call; the service is enabled once an enable was noted.
    "systemctl": 'echo "$*" >> "$VM_LOG/systemctl"\n'
                 '[ "$1" = is-enabled ] && { grep -q "^enable" "$VM_LOG/systemctl"; exit $?; }\n'
                 "exit 0\n",
    "chown": 'echo "$*" >> "$VM_LOG/chown"\n',
    # "Runs" the agent: notes its arguments, exits with $AGENT_RC.
    "docker": '[ "$1" = rm ] && exit 0\n'
              'for a in "$@"; do printf "%s\\0" "$a"; done > "$VM_LOG/docker"\n'
              'exit "${AGENT_RC:-0}"\n',
}


@dataclass
class Vm:
    root: Path  # where the VM's file system is
    log: Path
    env: dict[str, str]

    def run(self, script: str, **env: str) -> subprocess.CompletedProcess:
        work = self.log.parent / "cwd"
        work.mkdir(exist_ok=True)
        done = subprocess.run(["bash", "-c", script], cwd=work, capture_output=True, text=True,
                              env={**self.env, **env})
        assert list(work.iterdir()) == [], "nothing in the values ran"
        return done

    def boot(self, **env: str) -> int:
        """What systemd does at boot with the enabled service: runs its ExecStart."""
        unit = (self.root / boot.UNIT.lstrip("/")).read_text()
        [start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
        return self.run(start.removeprefix("ExecStart="), **env).returncode

    def calls(self, tool: str) -> list[str]:
        path = self.log / tool
        return path.read_text().splitlines() if path.exists() else []

    def docker_args(self) -> list[str]:
        return (self.log / "docker").read_text().split("\0")[:-1]

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")


@pytest.fixture
def vm(tmp_path: Path) -> Vm:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, body in STAND_INS.items():
        (bin_dir / tool).write_text("#!/bin/sh\n" + body)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "log"
    log.mkdir()
    return Vm(root=tmp_path / "vm", log=log, env={
        **os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "VM_LOG": str(log)})


def runner_of(script: str) -> str:
    """What aima-agent.service runs at every boot, as a boot script writes it."""
    [line] = [line for line in script.splitlines() if "base64 -d" in line
              and line.endswith(boot.RUNNER)]
    return base64.b64decode(line.split()[1]).decode()


def script_for(vm: Vm, command: str, env: dict[str, str], image: str = IMAGE) -> str:
    return boot.boot_script(command, env, image=image, name="aima-7" if image else "",
                            provider="aws", root=str(vm.root))


# ------------------------------------------------------------------ checks

@pytest.mark.parametrize("env, image, name, message", [
    ({"TOKEN": "a\nb"}, IMAGE, "aima-1", "TOKEN holds a line break"),
    ({"TOKEN": "a\r"}, IMAGE, "aima-1", "TOKEN holds a line break"),
    ({}, "--privileged", "aima-1", "'--privileged' is not an image reference"),
    ({}, f"{IMAGE} --rm", "aima-1", "is not an image reference"),
    ({}, IMAGE, "", "'' is not a Docker container name"),
    ({}, IMAGE, "aima 1", "'aima 1' is not a Docker container name"),
    ({}, IMAGE, "-aima", "is not a Docker container name"),
    ({"BAD-NAME": "x"}, IMAGE, "aima-1", "'BAD-NAME' is not a shell name"),
    ({"BAD-NAME": "x"}, "", "", "'BAD-NAME' is not a shell name"),
    ({"A": "1"}, "", "", "needs a command"),
])
def test_it_refuses_what_bash_or_docker_would_misread(env, image, name, message) -> None:
    command = "" if message == "needs a command" else "true"
    with pytest.raises(ProviderError, match=message) as caught:
        boot.boot_script(command, env, image=image, name=name, provider="aws")
    assert not caught.value.retryable


def test_the_checks_alone() -> None:
    boot.check_env({"A": "x\ny"}, env_file=False)  # exported by the shell: fine
    with pytest.raises(ProviderError, match="line break"):
        boot.check_env({"A": "x\ny"}, env_file=True)
    boot.check_image(IMAGE)
    boot.check_name("aima-7.a_b")
    with pytest.raises(ProviderError, match="image reference"):
        azure_boot.boot_script("true", {}, "", "aima-1")  # Azure has no image-less VMs


# ------------------------------------------------------------------ with an image

def test_it_writes_a_root_only_env_file_and_a_service_that_runs_the_container(vm: Vm) -> None:
    env = {"AIMA_AGENT_TOKEN": SECRET, "PLAIN": "v", "TRICKY": TRICKY}
    done = vm.run(script_for(vm, "python -m agents run", env))
    assert done.returncode == 0, done.stderr
    env_file = vm.path(boot.ENV_FILE)
    assert env_file.read_text() == "".join(f"{k}={v}\n" for k, v in env.items())
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert env_file.parent.stat().st_mode & 0o777 == 0o700
    assert vm.path(boot.RUNNER).stat().st_mode & 0o777 == 0o600
    workdir = vm.path(boot.WORKDIR)
    assert workdir.is_dir() and workdir.stat().st_mode & 0o777 == 0o700
    assert vm.calls("chown") == [f"1000:1000 {workdir}"]
    unit = vm.path(boot.UNIT).read_text()
    assert "Requires=docker.service" in unit and "WantedBy=multi-user.target" in unit
    assert "Restart=" not in unit
    assert vm.calls("systemctl") == ["is-enabled --quiet aima-agent.service", "daemon-reload",
                                     "enable --now aima-agent.service"]
    # What systemd starts at this boot and every later one:
    assert vm.boot() == 0
    args = vm.docker_args()
    assert args == ["run", "--rm", "--init", "--gpus", "all", "--network", "host",
                    "--name", "aima-7", "--env-file", str(env_file),
                    "--volume", f"{workdir}:/var/lib/aima-agent", IMAGE,
                    "sh", "-c", "python -m agents run"]
    assert not any(SECRET in a or "pwned" in a for a in args)


def test_without_a_command_the_container_runs_the_images_own(vm: Vm) -> None:
    vm.run(script_for(vm, "", {}))
    assert vm.boot() == 0
    assert vm.docker_args()[-1] == IMAGE
    assert vm.path(boot.ENV_FILE).read_text().strip() == ""


def test_a_second_run_of_the_script_leaves_the_service_to_systemd(vm: Vm) -> None:
    """GCP runs its startup script at every boot, after systemd started the enabled
    service: the script must not start a second agent, nor a first one again."""
    script = script_for(vm, "python -m agents run", {"AIMA_AGENT_TOKEN": SECRET})
    vm.run(script)
    vm.path(boot.ENV_FILE).write_text("as the first boot left it\n")
    assert vm.run(script).returncode == 0
    assert vm.calls("systemctl")[3:] == ["is-enabled --quiet aima-agent.service"]
    assert vm.path(boot.ENV_FILE).read_text() == "as the first boot left it\n"


# ------------------------------------------------------------------ on the VM itself

def test_without_an_image_the_service_runs_the_command_with_the_env_as_given(vm: Vm) -> None:
    env = {"PLAIN": "v", "TRICKY": TRICKY + "\nline2"}
    out = vm.log.parent / "out"
    command = f'printf "%s|%s|%s" "$PLAIN" "$TRICKY" "$AIMA_AGENT_WORKDIR" > {out}; true'
    assert vm.run(script_for(vm, command, env, image="")).returncode == 0
    assert not vm.path(boot.ENV_FILE).exists()
    runner = vm.path(boot.RUNNER)
    assert runner.stat().st_mode & 0o777 == 0o600  # it holds the env
    unit = vm.path(boot.UNIT).read_text()
    assert "docker" not in unit and "WantedBy=multi-user.target" in unit
    assert vm.boot() == 0
    # The workdir is the one on the disk, so that a resumed agent keeps its credential.
    assert out.read_text() == f"v|{env['TRICKY']}|/var/lib/aima-agent"


def test_without_an_image_the_env_may_set_another_workdir(vm: Vm) -> None:
    out = vm.log.parent / "out"
    vm.run(script_for(vm, f'printf %s "$AIMA_AGENT_WORKDIR" > {out}',
                      {"AIMA_AGENT_WORKDIR": "/srv/agent"}, image=""))
    assert vm.boot() == 0
    assert out.read_text() == "/srv/agent"


# ------------------------------------------------------------------ power off

@pytest.mark.parametrize("image", ["", IMAGE])
def test_an_agent_that_ended_its_vm_has_the_service_power_it_off(vm: Vm, image: str) -> None:
    """Exit code 75 is the agent's "end this VM": from a container it cannot power
    the VM off itself, and on the VM it may have failed to; the service does."""
    vm.run(script_for(vm, 'exit "$AGENT_RC"', {"AIMA_SHUTDOWN": "aws"}, image=image))
    for agent_rc, powered_off in (("3", False), ("75", True)):
        assert vm.boot(AGENT_RC=agent_rc) == int(agent_rc)
        assert vm.calls("systemctl").count("poweroff") == powered_off


# ------------------------------------------------------------------ per provider

def spec() -> LaunchSpec:
    return LaunchSpec(name="aima-7", image=IMAGE, env={"AIMA_AGENT_TOKEN": SECRET},
                      command="python -m agents run", spot=True)


def rendered() -> dict[str, str]:
    s = spec()
    azure = azure_boot.custom_data(s.command, {**s.env, **azure_boot.host_env()}, s.image,
                                   s.name)
    return {
        "aws": aws_boot.boot_script(s.command, {**s.env, **aws_boot.host_env(s)}, s.image,
                                    s.name),
        "aws-image-less": aws_boot.boot_script(s.command, {**s.env, **aws_boot.host_env(s)}),
        "gcp": gcp_boot.startup_script(s.command, {**s.env, **gcp_boot.host_env()}, s.image,
                                       s.name),
        "gcp-image-less": gcp_boot.startup_script(s.command, {**s.env, **gcp_boot.host_env()}),
        "azure": base64.b64decode(azure).decode(),
    }


@pytest.mark.parametrize("which", ["aws", "aws-image-less", "gcp", "gcp-image-less", "azure"])
def test_every_provider_installs_the_service_so_a_stop_and_start_runs_the_agent(
        which: str) -> None:
    script = rendered()[which]
    provider = which.split("-")[0]
    assert script.startswith(f"#!/bin/bash\n# Written by AIMA's {provider} provider")
    assert "\nWantedBy=multi-user.target\n" in script
    assert f"\nExecStart=/bin/bash {boot.RUNNER}\n" in script
    assert script.endswith("systemctl enable --now aima-agent.service\n")
    runner = runner_of(script)
    if "image-less" in which:
        assert "docker" not in runner and "export AIMA_AGENT_WORKDIR=/var/lib/aima-agent" in runner
    else:
        assert "--volume /var/lib/aima-agent:/var/lib/aima-agent" in runner
        assert f"{IMAGE} sh -c 'python -m agents run'" in runner
        assert SECRET not in runner
    assert 'if [ "$rc" -eq 75 ]; then systemctl poweroff; fi' in runner
    for text in (script, runner):
        parsed = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
        assert parsed.returncode == 0, parsed.stderr


def test_each_provider_keeps_its_own_size_limit() -> None:
    big = {"BIG": "x" * (gcp_boot.METADATA_VALUE_LIMIT + 1)}
    with pytest.raises(ProviderError, match="a metadata value holds at most 262144"):
        gcp_boot.startup_script("true", big, IMAGE, "aima-7")
    big = {"BIG": "x" * azure_boot.CUSTOM_DATA_LIMIT}
    with pytest.raises(ProviderError, match="Azure takes at most 65535"):
        azure_boot.custom_data("true", big, IMAGE, "aima-7")
    assert aws_boot.USER_DATA_LIMIT == 16 * 1024  # checked by providers.aws, user data too
