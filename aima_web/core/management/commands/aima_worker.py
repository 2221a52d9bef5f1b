from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from aima_tasks.kernel.routing import CONTROL_QUEUE
from aima_web.celery import app


class Command(BaseCommand):
    help = ("Run the control-plane Celery worker (probe, place, instances) on the "
            "control queue.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--concurrency", type=int, default=2,
                            help="worker processes (default 2; a 4-vCPU VPS needs no more)")
        parser.add_argument("--hostname", default="control@%h",
                            help="the worker's node name (default control@%%h); Celery's "
                                 "%%h (host name), %%n (name part), %%d (domain), %%i "
                                 "(pool process index) and %%I (index with a separator) "
                                 "may be used. Two control workers on one host need "
                                 "names of their own, e.g. control-2@%%h: they would "
                                 "share a remote-control queue otherwise")
        parser.add_argument("--loglevel", default="INFO")
        parser.add_argument("--beat", action="store_true",
                            help="also run the periodic tasks (instance upkeep, reconciler, "
                                 "price refresh); exactly one control worker should")

    def handle(self, *args, concurrency: int, hostname: str, loglevel: str, beat: bool,
               **options) -> None:
        argv = ["worker", "--queues", CONTROL_QUEUE, "--concurrency", str(concurrency),
                "--hostname", hostname, "--without-mingle", "--without-gossip",
                "--loglevel", loglevel]
        if beat:
            schedule = Path(settings.VAR_DIR) / "celerybeat-schedule"
            schedule.parent.mkdir(parents=True, exist_ok=True)
            argv += ["--beat", "--schedule", str(schedule)]
        app.worker_main(argv)
