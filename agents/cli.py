"""``python -m agents run``: the GPU agent's command line (and ``enrol-voice`` and
``enrol-face``, which make an enrolled voice or face for the model registry).

Every option can also come from an environment variable (for containers);
the flag wins where both are given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from agents.gpus import BadSimulation
from agents.runner import AgentConfig, StartupError, default_name, run


def env_flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m agents",
                                     description="AIMA GPU agent: serves analysis work on a GPU.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser(
        "run", help="register with the control plane and serve this host's GPU queues",
        description="Register this host's GPUs with the control plane, then run one worker "
                    "process per GPU (pinned with CUDA_VISIBLE_DEVICES) that consumes the GPU "
                    "queues that GPU can serve, until stopped: SIGTERM lets each finish the "
                    "task at hand; a killed agent takes its workers with it and the broker "
                    "gives their tasks to other agents.")
    run_cmd.add_argument("--control-plane", default=env("AIMA_CONTROL_PLANE_URL"),
                         metavar="URL",
                         help="control plane base URL, e.g. https://aima.example.org "
                              "[env AIMA_CONTROL_PLANE_URL]")
    run_cmd.add_argument("--token-file", type=Path, default=env("AIMA_AGENT_TOKEN_FILE"),
                         metavar="PATH",
                         help="file holding the enrollment token from `manage.py aima_enroll` "
                              "or the admin; or give the token itself in AIMA_AGENT_TOKEN, never "
                              "on the command line, where every user of the host can read it. "
                              "Needed at the first start only: the agent then keeps a "
                              "credential of its own under WORKDIR [env AIMA_AGENT_TOKEN_FILE]")
    run_cmd.add_argument("--ca-bundle", default=env("AIMA_CA_BUNDLE"), metavar="PATH",
                         help="CA certificates to verify the control plane's TLS certificate "
                              "with (default: the system's) [env AIMA_CA_BUNDLE]")
    run_cmd.add_argument("--simulate-gpu", default=env("AIMA_SIMULATE_GPU"),
                         metavar="NAME:VRAM_GB[,…]",
                         help="run without a GPU, pretending to have this one (several: "
                              "separate them with commas); shown as simulated in the API and "
                              "admin [env AIMA_SIMULATE_GPU]")
    run_cmd.add_argument("--name", default=env("AIMA_AGENT_NAME") or default_name(),
                         help="host name to report [env AIMA_AGENT_NAME, default: hostname]")
    run_cmd.add_argument("--location", default=env("AIMA_AGENT_LOCATION", ""),
                         help="where the host stands, e.g. 'Berlin DC2' [env AIMA_AGENT_LOCATION]")
    run_cmd.add_argument("--heartbeat", type=float,
                         default=float(env("AIMA_HEARTBEAT_S", "30")), metavar="SECONDS",
                         help="seconds between heartbeats [env AIMA_HEARTBEAT_S, default 30]")
    run_cmd.add_argument("--benchmark", action=argparse.BooleanOptionalAction,
                         default=env_flag(env("AIMA_AGENT_BENCHMARK")),
                         help="time every analyzer on sample media before registering and "
                              "send it as the GPUs' performance profile, which placement "
                              "plans with [env AIMA_AGENT_BENCHMARK=1/0; default: with real "
                              "GPUs yes, simulated no]")
    run_cmd.add_argument("--workdir", type=Path,
                         default=Path(env("AIMA_AGENT_WORKDIR")
                                      or Path(tempfile.gettempdir()) / "aima-agent"),
                         help="where media is kept while a job runs "
                              "[env AIMA_AGENT_WORKDIR, default: a temp folder]")
    run_cmd.add_argument("--model-cache", type=Path,
                         default=Path(env("AIMA_MODEL_CACHE")) if env("AIMA_MODEL_CACHE")
                         else None,
                         help="where model files fetched from the registry are kept, by "
                              "checksum, and verified before every load [env AIMA_MODEL_CACHE, "
                              "default: WORKDIR/models]")
    run_cmd.epilog = ("The broker comes from AIMA_BROKER_URL (default: the embedded "
                      "filesystem broker under AIMA_VAR_DIR, for a single machine).")
    _add_enrol_voice(commands)
    _add_enrol_face(commands)
    return parser


def _add_enrol_voice(commands: argparse._SubParsersAction) -> None:
    enrol = commands.add_parser(
        "enrol-voice", help="make an enrolled voice for the model registry from a clip",
        description="Compute the voice embedding of one speaker's clip (any audio or video "
                    "file; its speech only) with the speakers analysis's own encoder, and "
                    "write it as JSON ({\"name\", \"embedding\"}). Upload that file to the "
                    "model registry with task \"voice-enrolment\" and activate it: the "
                    "speakers analysis then names the speaker it recognises. The file is "
                    "biometric data: keep it as such.")
    enrol.add_argument("clip", type=Path, help="audio or video of the one speaker")
    enrol.add_argument("--name", required=True, help="the name the report shows")
    enrol.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.json")


def enrol_voice(args: argparse.Namespace) -> int:
    def voice(name: str) -> str:
        # Imported here: `run` must not load ONNX Runtime and the decoders in the supervisor.
        from agents.analyzers.speakers import voice_of
        from agents.analyzers.voice import enrolment

        return enrolment(name, voice_of(args.clip))

    return _enrol("enrol-voice", "voice", args.name, args.output, voice)


def enrol_face(args: argparse.Namespace) -> int:
    def face(name: str) -> str:
        with _native_stderr_silenced():
            # Imported here: `run` must not load MediaPipe and dlib in the supervisor.
            from agents.analyzers.faces import enrolment, face_of

            return enrolment(name, face_of(args.photos))

    return _enrol("enrol-face", "face", args.name, args.output, face)


def _enrol(command: str, what: str, name: str, output: Path,
           make: Callable[[str], str]) -> int:
    """Write the enrolment ``make`` computes for ``name`` to ``output``, whole or not at
    all (a half-written one must never be uploaded); a problem is one line, exit 2."""
    name = name.strip()
    try:
        if not name:
            raise ValueError("--name is empty: give the name the report should show")
        if not output.parent.is_dir():
            raise ValueError(f"{output.parent} is no folder to write {output.name} in")
        text = make(name)
        partial = output.with_name(f".{output.name}.partial")
        try:
            partial.write_text(text)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
    except (OSError, ValueError) as exc:
        print(f"aima {command}: {exc}", file=sys.stderr)
        return 2
    print(f"{output}: the {what} of {name}")
    return 0


def _add_enrol_face(commands: argparse._SubParsersAction) -> None:
    enrol = commands.add_parser(
        "enrol-face", help="make an enrolled face for the model registry from photos",
        description="Compute the face descriptor of one person from one or more photos "
                    "(each showing that face alone) with the faces analysis's own models, "
                    "and write it as JSON ({\"name\", \"embedding\"}). Upload that file to "
                    "the model registry with task \"face-enrolment\" and activate it: the "
                    "faces analysis then names the face it recognises. The file is "
                    "biometric data: keep it as such.")
    enrol.add_argument("photos", type=Path, nargs="+", metavar="PHOTO",
                       help="pictures of the one person, one face on each")
    enrol.add_argument("--name", required=True, help="the name the report shows")
    enrol.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.json")


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """MediaPipe and TensorFlow Lite write start-up chatter (a protobuf AttributeError,
    the XNNPACK delegate, absl warnings) straight to file descriptor 2: silenced, so
    that a failed enrolment says one line. A Python error still surfaces after it."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "enrol-voice":
        return enrol_voice(args)
    if args.command == "enrol-face":
        return enrol_face(args)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.control_plane:
        parser.error("--control-plane required (or set AIMA_CONTROL_PLANE_URL; see --help)")
    try:
        token = (args.token_file.read_text().strip() if args.token_file
                 else os.environ.get("AIMA_AGENT_TOKEN", "").strip())
    except OSError as exc:
        parser.error(f"--token-file: {exc.strerror}: {args.token_file}")
    # Spent at registration; the worker processes (which open untrusted media) need none.
    os.environ.pop("AIMA_AGENT_TOKEN", None)
    config = AgentConfig(control_plane_url=args.control_plane, token=token,
                         simulate_gpu=args.simulate_gpu, name=args.name,
                         location=args.location, heartbeat_s=args.heartbeat, workdir=args.workdir,
                         model_cache=args.model_cache, benchmark=args.benchmark,
                         ca_bundle=args.ca_bundle)
    try:
        run(config)
    except (StartupError, BadSimulation) as exc:
        print(f"aima agent: {exc}", file=sys.stderr)
        return 2
    return 0
