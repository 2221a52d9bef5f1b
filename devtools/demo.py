"""``python -m devtools.demo`` (what ``bootstrap.py run`` runs): the whole system
on one machine.

Starts the web server, a control worker and one local agent with a simulated
GPU, submits a sample video over REST, prints its results, and keeps
everything running until Ctrl-C (or stops at once with --once): a process that
dies is restarted, and only one that keeps dying ends the demo.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from agents import samples
from devtools import stack
from devtools.api_client import ApiClient

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aima_web.settings")
from django.conf import settings


class DemoError(RuntimeError):
    """Why the demo stopped, in one message for the command line."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo",
        description="Run AIMA end to end on this machine: web + API, control worker, one "
                    "local agent with a simulated GPU; submit a sample video and show its "
                    "results.")
    parser.add_argument("--port", type=int, default=8000, help="web/API port (default 8000)")
    parser.add_argument("--gpu", default="Demo GPU (simulated):24", metavar="NAME:VRAM_GB",
                        help="the simulated GPU the demo agent serves")
    parser.add_argument("--once", action="store_true",
                        help="stop everything after the sample job instead of serving on")
    args = parser.parse_args(argv)
    try:
        demo(args.port, args.gpu, args.once)
    except RuntimeError as exc:  # DemoError, StackError, or a process that kept dying (GaveUp)
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    return 0


def demo(port: int, gpu: str, once: bool) -> None:
    print("Starting web server, control worker and agent …", flush=True)
    running = stack.start(dict(os.environ), settings.VAR_DIR / "log", port, gpu, beat=True)
    try:
        job_id = run_sample(running.api)
        print("\nAIMA is up.", flush=True)
        for label, url, how in links(running, job_id):
            print(f"  {label + ':':<12}{url}{f'  ({how})' if how else ''}", flush=True)
        print(f"  {'API token:':<12}{running.api.token}\n"
              f"  {'Logs:':<12}{running.supervisor.log_dir}\n", flush=True)
        if not once:
            print("Serving until Ctrl-C.", flush=True)
            serve(running)
    finally:
        running.stop()


def links(running: stack.Stack, job_id: str) -> list[tuple[str, str, str]]:
    """What the demo serves: (name, URL, how to get in), each line of its greeting."""
    base, login = running.base_url, f"log in as {running.username} / {running.password}"
    return [
        ("Upload", f"{base}/upload/", f"analysts' page: drop a file, watch it run; {login}"),
        ("My jobs", f"{base}/jobs/", "the same login"),
        ("Report", f"{base}/api/v1/jobs/{job_id}/report/?format=html", "the same login"),
        ("Dashboard", f"{base}/dashboard/", "operators: GPUs, queues, costs, alerts; "
                                            "the same login"),
        ("Usage", f"{base}/usage/", "costs and savings this month; the same login"),
        ("Flower", f"{base}/flower/", "tasks and workers; the same login"),
        ("Metrics", f"{base}/metrics", "Prometheus; from this machine, or with "
                                       "'Authorization: Bearer $AIMA_METRICS_TOKEN'"),
        ("Alerts", f"{base}/api/v1/alerts/", "with the API token below"),
        ("Admin", f"{base}/admin/", "the same login"),
        ("API docs", f"{base}/api/docs/", ""),
    ]


def run_sample(api: ApiClient) -> str:
    folder = settings.VAR_DIR / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    sample = samples.write_video(folder / "sample.mp4")
    print(f"Submitting {sample.path.name} ({sample.duration_s:g} s video, "
          f"cuts at {', '.join(f'{t:g} s' for t in sample.cut_times_s)}) …", flush=True)
    job = api.wait(api.submit(sample.path, confidentiality="internal")["id"])
    placement = job["placement"] or {}
    print(f"Job {job['id']}: {job['state']}; {placement.get('reason', '')}", flush=True)
    if job["state"] != "succeeded":
        raise DemoError(f"the sample job ended {job['state']}: {job['error']}")
    for result in api.get(f"/api/v1/jobs/{job['id']}/results/"):
        print(f"[{result['analysis']}] {json.dumps(summarise(result['data']))}", flush=True)
    return job["id"]


def serve(running: stack.Stack) -> None:
    """Until Ctrl-C or SIGTERM: a process that dies is restarted (with backoff,
    one line on stderr); one that keeps dying ends the demo (GaveUp)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            running.supervisor.keep_alive()
    except KeyboardInterrupt:
        pass


def summarise(data: dict, limit: int = 4) -> dict:
    """Results can hold long curves: show the first few items of every list."""
    return {key: ([*value[:limit], f"… {len(value) - limit} more"]
                  if isinstance(value, list) and len(value) > limit else value)
            for key, value in data.items()}


if __name__ == "__main__":
    sys.exit(main())
