"""``python manage.py aima_demo``: the whole system on one machine.

Migrates, starts the web server, a control worker and one local agent with a
simulated GPU, submits a sample video over REST, prints its results, and keeps
everything running until Ctrl-C (or stops at once with --once).
"""

from __future__ import annotations

import json
import secrets
import signal
import socket
import threading

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from aima_web.core import samples
from aima_web.core.api_client import ApiClient
from aima_web.core.processes import Supervisor, http_up, wait_for
from aima_web.fleet.services import create_enrollment_token

DEMO_USER = "demo"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Command(BaseCommand):
    help = ("Run AIMA end to end on this machine: web + API, control worker, one local agent "
            "with a simulated GPU; submit a sample video and show its results.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="web/API port (default 8000)")
        parser.add_argument("--gpu", default="Demo GPU (simulated):24", metavar="NAME:VRAM_GB",
                            help="the simulated GPU the demo agent serves")
        parser.add_argument("--once", action="store_true",
                            help="stop everything after the sample job instead of serving on")

    def handle(self, *args, port: int, gpu: str, once: bool, **options) -> None:
        if not port_free(port):
            raise CommandError(f"port {port} is already in use; pass --port with a free one")
        call_command("migrate", interactive=False, verbosity=0)
        password, token = self.demo_user()
        _, enrollment = create_enrollment_token("demo agent")
        base = f"http://127.0.0.1:{port}"
        supervisor = Supervisor(log_dir=settings.VAR_DIR / "log")
        try:
            self.stdout.write("Starting web server, control worker and agent …")
            supervisor.start_web(port)
            supervisor.start_control_worker()
            wait_for("the web server", http_up(f"{base}/api/schema/"), 60, supervisor)
            supervisor.start_agent(base, enrollment, gpu)
            api = ApiClient(base, token)
            wait_for("the agent to register its GPU", lambda: any(
                g["agent"] and g["agent"]["online"] for g in api.get("/api/v1/gpus/")["results"]),
                90, supervisor)
            self.run_sample(api)
            self.stdout.write(self.style.SUCCESS(
                f"\nAIMA is up.\n  API docs:  {base}/api/docs/\n  Admin:     {base}/admin/  "
                f"(user {DEMO_USER}, password {password})\n  API token: {token}\n"
                f"  Logs:      {supervisor.log_dir}\n"))
            if not once:
                self.stdout.write("Serving until Ctrl-C.")
                self.serve(supervisor)
        finally:
            supervisor.stop_all()

    def demo_user(self) -> tuple[str, str]:
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(
            username=DEMO_USER, defaults={"is_staff": True, "is_superuser": True})
        user.set_password(password)
        user.save()
        token, _ = Token.objects.get_or_create(user=user)
        return password, token.key

    def run_sample(self, api: ApiClient) -> None:
        sample = samples.write_video(settings.VAR_DIR / "demo" / "sample.mp4")
        self.stdout.write(f"Submitting {sample.path.name} ({sample.duration_s:g} s video, "
                          f"cuts at {', '.join(f'{t:g} s' for t in sample.cut_times_s)}) …")
        job = api.submit(sample.path, confidentiality="internal")
        job = api.wait(job["id"])
        self.stdout.write(f"Job {job['id']}: {job['state']} on {job['placement']['queue']}"
                          if job["placement"] else f"Job {job['id']}: {job['state']}")
        if job["state"] != "succeeded":
            raise CommandError(f"the sample job ended {job['state']}: {job['error']}")
        for result in api.get(f"/api/v1/jobs/{job['id']}/results/"):
            self.stdout.write(f"\n[{result['analysis']}] "
                              f"{json.dumps(summarise(result['data']), indent=1)}")

    def serve(self, supervisor: Supervisor) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1):
                supervisor.check_alive()
        except KeyboardInterrupt:
            pass


def summarise(data: dict, limit: int = 4) -> dict:
    """Results can hold long curves: show the first few items of every list."""
    return {key: ([*value[:limit], f"… {len(value) - limit} more"]
                  if isinstance(value, list) and len(value) > limit else value)
            for key, value in data.items()}
