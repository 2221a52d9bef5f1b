"""Jobs per second through the whole pipeline against raw Celery on the same broker.

    .venv/bin/python bench/control_throughput.py [--jobs 200] [--repeat 3] [--clients 4]
        [--broker-url amqp://guest:guest@127.0.0.1:5672/aima-bench]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--gpus 1]
        [--profile DIR]

Starts the control plane as a 4-vCPU VPS runs it (deploy/systemd: gunicorn with 3
workers, ``aima_worker --concurrency 2 --beat``) and a local agent with one simulated
GPU (one single-process Celery worker per GPU; --gpus N simulates more), on RabbitMQ
(``--broker-url``, queues purged first; the default vhost is made once by ``rabbitmqctl
add_vhost aima-bench; rabbitmqctl set_permissions -p aima-bench guest '.*' '.*' '.*'``)
and a fresh PostgreSQL database made on ``--database-url``'s server, dropped after.
The API throttles are lifted: at their defaults (1200 requests a minute per user and
per agent; three agent requests a job) they alone would cap an agent at ~7 jobs/s.

The analysis is a no-op plugin written into a temporary folder put on PYTHONPATH for
every process (an ``aima.analyzers`` entry point, as a third-party package declares
one), requested by name on distinct tiny images (media is stored by content: every
job is probed).

Pipeline: after 20 unmeasured jobs, ``--jobs`` jobs submitted by ``--clients``
threads, timed from the first submission to the last job's ``finished_at``: jobs/s.
A job takes HOPS = 5 hops: REST submit, probe, place (Celery messages on the control
queue), analyse (a Celery message to the GPU queue), the agent's result report (HTTPS).

Raw Celery: a trivial Celery app with AIMA's settings (JSON, late acks, prefetch 1)
on the same broker, one worker process (prefork, concurrency 1, as an agent's);
``--jobs`` no-op messages published back to back, timed from the first publish to
the last task's end: messages/s.

Per-hop overhead = raw msgs/s / (pipeline jobs/s * HOPS): how many raw Celery
messages go by in the time of one pipeline hop (1: no overhead beyond the broker;
target <= 10). The two alternate, ``--repeat`` rounds each; medians are printed,
and the CPU milliseconds per job of each process (with its children) and of the
whole machine (PostgreSQL and RabbitMQ included) during the pipeline rounds.

``--profile DIR`` then runs one more pipeline round with py-spy (on PATH, in
.venv/bin or named by ``PY_SPY``) sampling the web, control worker and agent
processes and their children, writes their collapsed stacks to DIR and prints the
functions that took most samples.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from celery import Celery

from agents import samples
from devtools import stack
from devtools.api_client import ApiClient
from devtools.processes import Supervisor, http_up, wait_for

HOPS = 5
WARM_UP = 20  # jobs before the measured rounds
ANALYSIS = "bench_noop"
RAW_QUEUE = "bench_raw"
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/aima-bench"
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/postgres"

PLUGIN_SPEC = f'''
from aima_tasks.kernel.analyses import AnalysisSpec, MediaType

NOOP = AnalysisSpec("{ANALYSIS}", frozenset({{MediaType.IMAGE}}), "Does nothing (benchmark).",
                    reference_s_per_unit=0.001, runner="aima_bench_noop:run", default_on=False)
'''
PLUGIN_RUNNER = "def run(path, ctx):\n    return {'noop': True}\n"
RAW_APP = f'''
import os, time
from celery import Celery

app = Celery("bench_raw", broker=os.environ["BENCH_RAW_BROKER"])
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                task_acks_late=True, worker_prefetch_multiplier=1,
                task_default_queue="{RAW_QUEUE}", worker_hijack_root_logger=False)

@app.task(name="bench.noop")
def noop(i):
    with open(os.environ["BENCH_RAW_DONE"], "a") as done:
        done.write(f"{{time.time()}}\\n")
'''


def write_plugins(site: Path) -> None:
    """The no-op analysis as an installed-looking distribution, and the raw Celery app."""
    site.mkdir(parents=True)
    (site / "aima_bench_noop_spec.py").write_text(PLUGIN_SPEC)
    (site / "aima_bench_noop.py").write_text(PLUGIN_RUNNER)
    (site / "aima_bench_raw.py").write_text(RAW_APP)
    info = site / "aima_bench_noop-1.0.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text("Metadata-Version: 2.1\nName: bench-noop\nVersion: 1\n")
    info.joinpath("entry_points.txt").write_text(
        f"[aima.analyzers]\n{ANALYSIS} = aima_bench_noop_spec:NOOP\n")


def on_server(server_url: str, sql: str) -> None:
    """Run ``sql`` (CREATE/DROP DATABASE: outside a transaction) on that server."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql)


def purge_queues(broker: str, names: list[str]) -> None:
    """Leftovers of an interrupted run would be work for this one."""
    from amqp.exceptions import NotFound
    from kombu import Connection

    with Connection(broker) as conn:
        for name in names:
            channel = conn.channel()  # a missing queue closes the channel it was asked on
            try:
                channel.queue_purge(name)
            except NotFound:
                continue
            channel.close()


def start_stack(env: dict[str, str], work: Path, gpus: int) -> tuple[Supervisor, ApiClient]:
    """The deployed VPS's processes (deploy/systemd) and one local agent."""
    port = stack.free_port()
    base_url = f"http://127.0.0.1:{port}"
    stack.manage(env, "migrate", "--noinput")
    _password, token = stack.manage(env, "aima_admin", "bench").split()
    enrollment = stack.manage(env, "aima_enroll", "--label", "bench agent")
    supervisor = Supervisor(log_dir=work / "log", env=dict(env))
    supervisor.start("web", [sys.executable, "-m", "gunicorn", "aima_web.wsgi", "--bind",
                             f"127.0.0.1:{port}", "--workers", "3", "--timeout", "600"])
    supervisor.start("control-worker", [sys.executable, "manage.py", "aima_worker",
                                        "--concurrency", "2", "--beat"])
    try:
        wait_for("the web server", http_up(f"{base_url}/api/schema/"), 60, supervisor)
        supervisor.start_agent(base_url, enrollment, ",".join(["Bench GPU:24"] * gpus))
        api = ApiClient(base_url, token)
        wait_for("the agent's GPUs", lambda: sum(
            bool(g["agent"] and g["agent"]["online"])
            for g in api.get("/api/v1/gpus/")["results"]) >= gpus, 90, supervisor)
    except BaseException:
        for process in supervisor.processes:
            print(f"--- {process.name} ---\n{process.tail(40)}", file=sys.stderr)
        supervisor.stop_all()
        raise
    return supervisor, api


def write_images(folder: Path, count: int) -> list[Path]:
    """``count`` distinct tiny JPEGs (their sizes differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        samples.write_image(folder / f"img{i}.jpg", size=(32 + i % 200, 24 + i // 200))
    return [folder / f"img{i}.jpg" for i in range(count)]


# Read straight from the database: polling the jobs API would load the web server
# under test (a page of 50 serialised jobs a call).
PROGRESS = """SELECT count(*) FILTER (WHERE state = 'succeeded'),
                     count(*) FILTER (WHERE state = 'failed'), extract(epoch FROM max(finished_at))
              FROM jobs_job WHERE id = ANY(%s)"""


def pipeline_round(api: ApiClient, database: str, images: list[Path], clients: int,
                   timeout_s: float = 600) -> float:
    """Jobs per second for ``images``, one job each, ``clients`` submitting at once."""
    import psycopg

    start = time.time()
    with ThreadPoolExecutor(clients) as pool:
        ids = [uuid.UUID(job_id) for job_id in pool.map(
            lambda path: api.submit(path, analyses=[ANALYSIS])["id"], images)]
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database, autocommit=True) as conn:
        while True:
            succeeded, failed, last = conn.execute(PROGRESS, (ids,)).fetchone()
            if succeeded == len(ids):
                return len(ids) / (float(last) - start)
            if failed:
                raise SystemExit("a benchmark job failed: see GET /api/v1/jobs/?state=failed")
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(ids) - succeeded} jobs unfinished after {timeout_s:g} s")
            time.sleep(0.1)


def raw_round(publisher: Celery, done_file: Path, messages: int, timeout_s: float = 300) -> float:
    """Messages per second: ``messages`` no-op tasks published back to back and consumed."""
    done_file.write_text("")
    start = time.time()
    for i in range(messages):
        publisher.send_task("bench.noop", args=(i,), queue=RAW_QUEUE)
    deadline = time.monotonic() + timeout_s
    while len(lines := done_file.read_text().split()) < messages:
        if time.monotonic() > deadline:
            raise SystemExit(f"raw Celery: {len(lines)} of {messages} done after {timeout_s:g} s")
        time.sleep(0.05)
    return messages / (max(map(float, lines)) - start)


def start_raw_worker(supervisor: Supervisor, done_file: Path) -> Celery:
    """The raw Celery worker, running and warm; and the app to publish with."""
    # The app reads its broker from the environment, here as in the worker.
    os.environ["BENCH_RAW_BROKER"] = supervisor.env["BENCH_RAW_BROKER"]
    import aima_bench_raw

    supervisor.start("raw-worker", [
        sys.executable, "-m", "celery", "-A", "aima_bench_raw", "worker", "--queues", RAW_QUEUE,
        "--concurrency", "1", "--without-mingle", "--without-gossip", "--loglevel", "WARNING"])
    raw_round(aima_bench_raw.app, done_file, 1, timeout_s=60)  # declared, connected, warm
    return aima_bench_raw.app


def py_spy() -> str:
    found = (os.environ.get("PY_SPY") or shutil.which("py-spy")
             or shutil.which("py-spy", path=str(Path(sys.executable).parent)))
    return found or sys.exit("--profile needs py-spy (on PATH, in .venv/bin, or PY_SPY=path)")


def profiled_round(supervisor: Supervisor, run_round: Callable[[], float],
                   folder: Path) -> None:
    """One pipeline round with py-spy on each stack process and its children."""
    folder.mkdir(parents=True, exist_ok=True)
    spies = {p.name: subprocess.Popen(
        [py_spy(), "record", "--pid", str(p.popen.pid), "--subprocesses", "--rate", "100",
         "--format", "raw", "--output", str(folder / f"{p.name}.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in supervisor.processes if p.name in ("web", "control-worker", "agent")}
    time.sleep(2)  # attached
    try:
        print(f"profiled round: {run_round():.1f} jobs/s (slowed by the sampling)")
    finally:
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    for name in spies:
        total, waiting, own, ours = hottest(folder / f"{name}.txt")
        print(f"\n{name}: {total} samples, {100 * waiting / max(total, 1):.0f}% waiting "
              "(database, sockets, locks, sleeps); working, by function itself:")
        print("\n".join(f"  {100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in own))
        print("  AIMA functions, including what they call and wait for:")
        print("\n".join(f"  {100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in ours))


# Leaf functions that wait rather than work (py-spy's own idle test misses them here).
WAITING = re.compile(r"^(\S+\.)?(wait|select|poll|sleep|_recv|recv|recv_into|readinto|_read|"
                     r"accept|main|start) \(")


def hottest(collapsed: Path, top: int = 10) -> tuple[int, int, list, list]:
    """(samples, waiting samples, top functions by working samples of their own, top
    AIMA functions by all samples under them) from py-spy's collapsed stacks."""
    own, ours, total, waiting = Counter(), Counter(), 0, 0
    for line in collapsed.read_text().splitlines() if collapsed.exists() else ():
        stack_text, _, weight_text = line.rpartition(" ")
        # "function (path:line)": one entry per function, whatever the line.
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack_text.split(";")[1:]] or ["?"]
        weight = int(weight_text)
        total += weight
        if WAITING.match(frames[-1]):
            waiting += weight
        else:
            own[frames[-1]] += weight
        ours.update(dict.fromkeys({f for f in frames
                                   if re.search(r"\((aima_web|aima_tasks|agents)/", f)}, weight))
    return total, waiting, own.most_common(top), ours.most_common(top)


def environment(args: argparse.Namespace, work: Path, site: Path, database: str) -> dict:
    return {**os.environ, "AIMA_VAR_DIR": str(work / "var"), "DATABASE_URL": database,
            "AIMA_BROKER_URL": args.broker_url, "AIMA_SECRET_KEY": uuid.uuid4().hex * 2,
            "AIMA_THROTTLE_USER": "1000000/minute", "AIMA_THROTTLE_AGENT": "1000000/minute",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(site), str(stack.PROJECT_ROOT),
                                                        os.environ.get("PYTHONPATH")])),
            "BENCH_RAW_BROKER": args.broker_url, "BENCH_RAW_DONE": str(work / "raw-done")}


# Processes outside the stack that work for it, by their command name.
SERVICES = {"postgres": "PostgreSQL", "beam.smp": "RabbitMQ"}


def cpu_seconds(supervisor: Supervisor) -> Counter:
    """CPU seconds so far: each stack process with its children (its process group),
    this bench (the clients), PostgreSQL, RabbitMQ and the whole machine."""
    tick = os.sysconf("SC_CLK_TCK")
    groups = {p.popen.pid: p.name for p in supervisor.processes}
    used = Counter()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        command, fields = text[text.index("(") + 1:text.rindex(")")], text.rpartition(")")[2]
        fields = fields.split()
        name = (groups.get(int(fields[2]))  # by process group
                or ("bench" if stat.parent.name == str(os.getpid()) else SERVICES.get(command)))
        if name is not None:
            used[name] += sum(map(int, fields[11:15])) / tick  # utime stime cutime cstime
    with open("/proc/stat") as stat:
        ticks = [int(n) for n in stat.readline().split()[1:]]
    used["machine"] = (sum(ticks) - ticks[3] - ticks[4]) / tick  # all but idle and iowait
    return used


def print_cpu(cpu: Counter, jobs: int) -> None:
    """Where the CPU went during the pipeline rounds: it tells CPU-bound from waiting."""
    names = ("web", "control-worker", "agent", "bench", *SERVICES.values())
    parts = "  ".join(f"{name} {1000 * cpu[name] / jobs:.0f}" for name in names)
    cpus = os.cpu_count() or 1
    print(f"CPU ms per job: {parts}  whole machine {1000 * cpu['machine'] / jobs:.0f} "
          f"(busy {100 * cpu['machine'] / (cpu['wall'] * cpus):.0f}% of {cpus} CPUs)")


def measure(args: argparse.Namespace, work: Path, env: dict) -> None:
    from aima_tasks.topology import declared_queues

    purge_queues(args.broker_url, [q.name for q in declared_queues()] + [RAW_QUEUE])
    supervisor, api = start_stack(env, work, args.gpus)
    try:
        publisher = start_raw_worker(supervisor, Path(env["BENCH_RAW_DONE"]))
        images = write_images(work / "media", args.jobs * (args.repeat + 1) + WARM_UP)
        batches = [images[i * args.jobs:(i + 1) * args.jobs] for i in range(args.repeat + 1)]
        run_round = partial(pipeline_round, api, env["DATABASE_URL"])
        # Unmeasured: every web and pool process has served a request and run its task once.
        run_round(images[-WARM_UP:], args.clients)
        pipeline, raw, cpu = [], [], Counter()
        for batch in batches[:args.repeat]:
            before, started = cpu_seconds(supervisor), time.monotonic()
            pipeline.append(run_round(batch, args.clients))
            cpu.update(cpu_seconds(supervisor) - before)
            cpu["wall"] += time.monotonic() - started
            raw.append(raw_round(publisher, Path(env["BENCH_RAW_DONE"]), args.jobs))
            print(f"  round: pipeline {pipeline[-1]:6.1f} jobs/s   raw Celery {raw[-1]:7.1f} "
                  f"msgs/s", flush=True)
        jobs_s, msgs_s = statistics.median(pipeline), statistics.median(raw)
        print(f"pipeline      {jobs_s:8.1f} jobs/s  ({jobs_s * HOPS:.1f} hops/s, {HOPS} a job)")
        print(f"raw Celery    {msgs_s:8.1f} msgs/s")
        print(f"per-hop overhead (raw msgs/s / pipeline hops/s): {msgs_s / (jobs_s * HOPS):.1f}x"
              f"   targets: >= 25 jobs/s, <= 10x")
        print_cpu(cpu, args.jobs * args.repeat)
        if args.profile:
            profiled_round(supervisor, partial(run_round, batches[-1], args.clients),
                           args.profile)
    finally:
        supervisor.stop_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs (and raw messages) a round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each (medians printed)")
    parser.add_argument("--clients", type=int, default=4, help="threads submitting jobs")
    parser.add_argument("--gpus", type=int, default=1, help="simulated GPUs of the agent")
    parser.add_argument("--broker-url", default=DEFAULT_BROKER)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE, help="a PostgreSQL "
                        "server (any database on it) where the bench may create its own")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="a round under py-spy")
    args = parser.parse_args()
    if args.profile:
        py_spy()  # there, before anything starts
    # A SIGTERM ends the bench through its finally blocks: processes stopped, database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="aima-throughput-"))
    site = work / "site"
    write_plugins(site)
    sys.path.insert(0, str(site))
    name = f"aima_throughput_{uuid.uuid4().hex[:8]}"
    on_server(args.database_url, f'CREATE DATABASE "{name}"')
    database = urlunsplit(urlsplit(args.database_url)._replace(path=f"/{name}"))
    print(f"broker {args.broker_url.rpartition('@')[2]}   database {name}   "
          f"{args.jobs} jobs a round, {args.clients} clients, {args.gpus} GPU(s)", flush=True)
    try:
        measure(args, work, environment(args, work, site, database))
        shutil.rmtree(work)
    except BaseException:
        print(f"the processes' logs are kept in {work / 'log'}", file=sys.stderr)
        raise
    finally:
        on_server(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
