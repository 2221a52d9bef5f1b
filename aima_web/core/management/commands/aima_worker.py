from django.core.management.base import BaseCommand

from aima_tasks.app import app
from aima_tasks.routing import CONTROL_QUEUE


class Command(BaseCommand):
    help = "Run the control-plane Celery worker (probe, place, finalize) on the control queue."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--concurrency", type=int, default=2,
                            help="worker processes (default 2; a 4-vCPU VPS needs no more)")
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args, concurrency: int, loglevel: str, **options) -> None:
        app.worker_main([
            "worker", "--queues", CONTROL_QUEUE, "--concurrency", str(concurrency),
            "--hostname", "control@%h", "--without-mingle", "--without-gossip",
            "--loglevel", loglevel,
        ])
