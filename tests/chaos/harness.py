"""One chaos scenario from submission to tally: jobs (image pHash, light) submitted
half before the fault and half while it lasts, every request's status and time
recorded, the fault injected, then the jobs given a deadline to end; what the
database holds afterwards is counted. The suite (tests/chaos) and the benchmark
(bench/chaos.py) both run scenarios through :func:`run`."""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from devtools.api_client import multipart
from tests.chaos import stack as chaos_stack

ANALYSIS = "phash"
REQUEST_TIMEOUT_S = 15
SUBMIT_DEADLINE_S = 90  # a job not accepted by then is given up (counted as refused)


@dataclass(frozen=True)
class Attempt:
    method: str
    started: float
    seconds: float
    status: int | str  # an HTTP status, or "timeout" / "refused" (no answer)
    retry_after: bool
    in_window: bool


@dataclass
class Chaos:
    """What a fault acts on, and the window during which requests are checked."""

    stack: chaos_stack.Stack
    scenario: Scenario
    attempts: list[Attempt] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what the fault itself saw go wrong
    window_open: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def world(self) -> chaos_stack.World:
        return self.stack.world

    @contextmanager
    def window(self, after_s: float = 0) -> Iterator[None]:
        """Requests started inside are checked against the scenario's rules; with
        ``probe``, an authenticated GET polls the API meanwhile."""
        self.window_open = True
        prober = threading.Thread(target=self.probe, daemon=True)
        if self.scenario.probe:
            prober.start()
        try:
            yield
            time.sleep(after_s)
        finally:
            self.window_open = False
            if prober.is_alive():
                prober.join(REQUEST_TIMEOUT_S + 1)

    def request(self, method: str, path: str, data: bytes | None = None,
                content_type: str | None = None) -> tuple[int | str, bytes]:
        request = urllib.request.Request(f"{self.stack.base_url}{path}", data=data,
                                         method=method)
        request.add_header("Authorization", f"Token {self.world.token}")
        request.add_header("Accept", "application/json")
        if content_type:
            request.add_header("Content-Type", content_type)
        in_window, started = self.window_open, time.monotonic()
        body, retry_after = b"", False
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, retry_after = exc.code, bool(exc.headers.get("Retry-After"))
        except TimeoutError:
            status = "timeout"
        except (urllib.error.URLError, ConnectionError) as exc:
            status = "timeout" if "timed out" in str(exc) else "refused"
        with self.lock:
            self.attempts.append(Attempt(method, started, time.monotonic() - started, status,
                                         retry_after, in_window))
        return status, body

    def probe(self) -> None:
        while self.window_open:
            self.request("GET", "/api/v1/jobs/?page_size=1")
            time.sleep(0.25)

    def submit(self, image: Path) -> bool:
        """POST one job until it is accepted (201) or the deadline passes."""
        body, content_type = multipart([("confidentiality", "internal"),
                                        ("analyses", ANALYSIS)], "media", image)
        deadline = time.monotonic() + SUBMIT_DEADLINE_S
        while time.monotonic() < deadline:
            if self.request("POST", "/api/v1/jobs/", body, content_type)[0] == 201:
                return True
            time.sleep(1)
        return False


@dataclass(frozen=True)
class Scenario:
    name: str
    inject: Callable[[Chaos], None]
    # How long the fault lasts, roughly: the second half of the jobs is spread over it.
    span_s: float
    # The statuses a request started in the fault's window may get (None: any).
    allowed: frozenset[int] | None = None
    # The longest a request started in the window may take (None: any).
    max_s: float | None = None
    probe: bool = False
    # Local agents, one simulated GPU each: with two, work of a lost one goes to the other.
    agents: int = 1

    @property
    def roles(self) -> tuple[str, ...]:
        return ("web", "control-worker", "agent",
                *(f"agent-{n}" for n in range(2, self.agents + 1)))


@dataclass
class Tally:
    scenario: str
    submitted: int = 0  # jobs the database holds (accepted, whether or not the client knew)
    succeeded: int = 0
    failed: int = 0  # failed or cancelled: lost
    stuck: Counter = field(default_factory=Counter)  # not ended by the deadline, by state
    duplicates: int = 0
    bad_statuses: Counter = field(default_factory=Counter)
    refused: int = 0  # jobs the client gave up submitting
    in_flight: int = 0  # jobs not ended when the fault began: what it could hit
    in_window: int = 0  # requests started during the fault's checked window
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.stuck or self.duplicates or self.bad_statuses
                    or self.refused or self.problems) and self.succeeded == self.submitted > 0

    def statuses(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in sorted(self.bad_statuses.items())) or "ok"

    def row(self) -> str:
        stuck = sum(self.stuck.values())
        where = f" ({', '.join(f'{s} {n}' for s, n in sorted(self.stuck.items()))})" \
            if stuck else ""
        return (f"{self.scenario:<12} {self.in_flight:>6} {self.submitted:>9} "
                f"{self.succeeded:>9} {self.failed:>6} {stuck:>5}{where} {self.duplicates:>4} "
                f"{self.seconds:>5.0f}  {self.statuses()}"
                + (f" ({self.in_window} requests in the fault)" if self.in_window else ""))


HEADER = f"{'scenario':<12} {'flying':>6} {'submitted':>9} {'succeeded':>9} {'failed':>6} " \
         f"{'stuck':>5} {'dups':>4} {'secs':>5}  statuses"


def table(tallies: list[Tally]) -> str:
    return "\n".join([HEADER, *(t.row() for t in tallies)])


def run(world: chaos_stack.World, scenario: Scenario, jobs: int, settle_s: float,
        folder: Path) -> Tally:
    """Start a stack, submit ``jobs`` jobs around the fault, wait up to ``settle_s``
    after it for every job to end, count, stop the stack."""
    started = time.monotonic()
    stack = chaos_stack.start(world, scenario.name, folder, scenario.roles)
    tally = Tally(scenario.name)
    try:
        chaos = Chaos(stack, scenario)
        images = world.images[:jobs]
        first, rest = images[:jobs // 2], images[jobs // 2:]
        # A burst: jobs queue at the one GPU, in every state, when the fault strikes.
        with ThreadPoolExecutor(4) as pool:
            tally.refused += sum(not ok for ok in pool.map(chaos.submit, first))
        # The rest spread over the fault by two clients, as many as the web has workers.
        pace = max(0.4, 2 * scenario.span_s / max(len(rest), 1))
        submitters = [threading.Thread(target=submit_all, args=(chaos, rest[i::2], pace, tally),
                                       daemon=True) for i in range(2)]
        for submitter in submitters:
            submitter.start()
        tally.in_flight = active(stack)
        scenario.inject(chaos)
        tally.problems += chaos.problems
        for submitter in submitters:
            submitter.join(SUBMIT_DEADLINE_S + len(rest) * (pace + REQUEST_TIMEOUT_S))
        settle(stack, submitters, settle_s)
        count(stack, tally)
        judge(chaos, tally)
        tally.problems += stack.down()
        if not tally.ok:
            tally.problems.append(f"logs in {folder / 'logs'}:\n{error_lines(folder / 'logs')}")
    finally:
        stack.stop()
    tally.seconds = time.monotonic() - started
    return tally


def submit_all(chaos: Chaos, images: list[Path], pace_s: float, tally: Tally) -> None:
    for image in images:
        if not chaos.submit(image):
            with chaos.lock:
                tally.refused += 1
        time.sleep(pace_s)


ACTIVE = "SELECT count(*) FROM jobs_job WHERE state NOT IN ('succeeded', 'failed', 'cancelled')"


def active(stack: chaos_stack.Stack) -> int:
    with psycopg.connect(stack.database_url, connect_timeout=5) as conn:
        return conn.execute(ACTIVE).fetchone()[0]


def settle(stack: chaos_stack.Stack, submitters: list[threading.Thread],
           settle_s: float) -> None:
    """Until every job has ended (and the ``submitters`` have submitted all), or
    ``settle_s`` seconds passed."""
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        if not any(submitter.is_alive() for submitter in submitters):
            try:
                with psycopg.connect(stack.database_url, connect_timeout=5) as conn:
                    if conn.execute(ACTIVE).fetchone()[0] == 0:
                        return
            except psycopg.OperationalError:
                pass  # the database is coming back
        time.sleep(0.5)


DUPLICATES = """
SELECT (SELECT count(*) FROM (SELECT 1 FROM jobs_segmentresult
                              GROUP BY job_id, analysis, index HAVING count(*) > 1) s)
     + (SELECT count(*) FROM (SELECT 1 FROM jobs_analysisresult
                              GROUP BY job_id, analysis HAVING count(*) > 1) a)
     + (SELECT count(*) FROM (SELECT 1 FROM audit_auditevent WHERE action = 'job.succeeded'
                              GROUP BY subject HAVING count(*) > 1) e)"""
# Succeeded, and yet no result of the analysis asked for: lost as much as a failed job.
EMPTY = """SELECT count(*) FROM jobs_job j WHERE state = 'succeeded' AND NOT EXISTS (
               SELECT 1 FROM jobs_analysisresult r WHERE r.job_id = j.id)"""


def count(stack: chaos_stack.Stack, tally: Tally) -> None:
    with psycopg.connect(stack.database_url, connect_timeout=10) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM jobs_job GROUP BY state"))
        tally.duplicates = conn.execute(DUPLICATES).fetchone()[0]
        empty = conn.execute(EMPTY).fetchone()[0]
        errors = [row[0] for row in conn.execute(
            "SELECT DISTINCT error FROM jobs_job WHERE state IN ('failed', 'cancelled')")]
    tally.submitted = sum(states.values())
    tally.succeeded = states.pop("succeeded", 0) - empty
    tally.failed = states.pop("failed", 0) + states.pop("cancelled", 0) + empty
    tally.stuck.update(states)
    if empty:
        tally.problems.append(f"{empty} succeeded job(s) without a result")
    tally.problems += [f"failed: {error[:300]}" for error in errors]


def judge(chaos: Chaos, tally: Tally) -> None:
    """Requests: never a server error other than 503, a 503 always with Retry-After,
    and inside the fault's window only what the scenario allows, as fast as it allows."""
    rules = chaos.scenario
    tally.in_window = sum(attempt.in_window for attempt in chaos.attempts)
    for attempt in chaos.attempts:
        status = attempt.status
        if isinstance(status, int) and status >= 500 and status != 503:
            tally.bad_statuses[f"{attempt.method} {status}"] += 1
        elif status == 503 and not attempt.retry_after:
            tally.bad_statuses[f"{attempt.method} 503 without Retry-After"] += 1
        elif attempt.in_window and rules.allowed is not None and status not in rules.allowed:
            tally.bad_statuses[f"{attempt.method} {status} in the fault"] += 1
        if attempt.in_window and rules.max_s is not None and attempt.seconds > rules.max_s:
            tally.bad_statuses[f"{attempt.method} over {rules.max_s:g} s"] += 1
            tally.problems.append(f"{attempt.method} took {attempt.seconds:.1f} s "
                                  f"({attempt.status})")


def error_lines(logs: Path, limit: int = 6) -> str:
    """The last error records of each process's log: where a failing scenario's cause
    shows (503s answered during a database fault are expected, and left out)."""
    found = []
    for log in sorted(logs.glob("*.log")):
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if re.search(r" (ERROR|CRITICAL)[ /]", line)
                 and not re.search(r"answered 503|Service Unavailable", line)]
        found += [f"  {log.stem}: {line[:240]}" for line in lines[-limit:]]
    return "\n".join(found) or "  (no error lines)"
