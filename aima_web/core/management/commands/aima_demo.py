"""``python manage.py aima_demo``: the whole system on one machine.

Starts the web server, a control worker and one local agent with a simulated
GPU, submits a sample video over REST, prints its results, and keeps
everything running until Ctrl-C (or stops at once with --once).
"""

from __future__ import annotations

import json
import os
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aima_tasks import samples
from aima_web.core import stack
from aima_web.core.api_client import ApiClient


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
        self.stdout.write("Starting web server, control worker and agent …")
        try:
            running = stack.start(dict(os.environ), settings.VAR_DIR / "log", port, gpu, beat=True)
        except stack.StackError as exc:
            raise CommandError(str(exc)) from None
        try:
            job_id = self.run_sample(running.api)
            self.stdout.write(self.style.SUCCESS(
                f"\nAIMA is up.\n  API docs:  {running.base_url}/api/docs/\n"
                f"  Report:    {running.base_url}/api/v1/jobs/{job_id}/report/?format=html "
                f"(after logging in to the admin)\n"
                f"  Admin:     {running.base_url}/admin/  "
                f"(user {running.username}, password {running.password})\n"
                f"  API token: {running.api.token}\n"
                f"  Logs:      {running.supervisor.log_dir}\n"))
            if not once:
                self.stdout.write("Serving until Ctrl-C.")
                self.serve(running)
        finally:
            running.stop()

    def run_sample(self, api: ApiClient) -> str:
        folder = settings.VAR_DIR / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        sample = samples.write_video(folder / "sample.mp4")
        self.stdout.write(f"Submitting {sample.path.name} ({sample.duration_s:g} s video, "
                          f"cuts at {', '.join(f'{t:g} s' for t in sample.cut_times_s)}) …")
        job = api.wait(api.submit(sample.path, confidentiality="internal")["id"])
        placement = job["placement"] or {}
        self.stdout.write(f"Job {job['id']}: {job['state']}; {placement.get('reason', '')}")
        if job["state"] != "succeeded":
            raise CommandError(f"the sample job ended {job['state']}: {job['error']}")
        for result in api.get(f"/api/v1/jobs/{job['id']}/results/"):
            self.stdout.write(f"[{result['analysis']}] "
                              f"{json.dumps(summarise(result['data']))}")
        return job["id"]

    def serve(self, running: stack.Stack) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1):
                running.supervisor.check_alive()
        except KeyboardInterrupt:
            pass


def summarise(data: dict, limit: int = 4) -> dict:
    """Results can hold long curves: show the first few items of every list."""
    return {key: ([*value[:limit], f"… {len(value) - limit} more"]
                  if isinstance(value, list) and len(value) > limit else value)
            for key, value in data.items()}
