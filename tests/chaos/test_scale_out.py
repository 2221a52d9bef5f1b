"""The control plane scales out safely (issue 14): two gunicorn web processes and two
control workers (one with the beat) on one PostgreSQL cluster and one RabbitMQ node
take a burst of jobs split across both webs, local and cloud (the `subprocess`
provider): no unit of work published twice, no job finalized twice, no instance
launched twice for one job's demand."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from agents import samples
from devtools.api_client import ApiClient
from providers.subprocess import SubprocessProvider
from tests.chaos import harness
from tests.chaos import stack as chaos_stack

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

LOCAL_JOBS = 20  # audio, confidential: the local 8 GB GPU
CLOUD_JOBS = 4  # images, public: 16 GB, so only a rented instance takes them
MAX_INSTANCES = 2
ROLES = ("web", "web-2", "control-worker", "control-worker-2", "agent")
SETTLE_S = 120

# A job's demand is met by the instance requested for it until that one is ready to
# take work (or ended): a second request naming the job before then is a double launch.
# (Later, another job may have taken the first instance, and a second is due.)
DOUBLE_LAUNCHES = """
SELECT second.detail->>'job', first.subject, first.created_at, second.subject,
       second.created_at, i.ready_at, i.terminated_at
FROM audit_auditevent first
JOIN audit_auditevent second ON second.action = 'instance.requested'
     AND second.detail->>'job' = first.detail->>'job' AND second.seq > first.seq
JOIN instances_cloudinstance i ON first.subject = 'instance:' || i.id
WHERE first.action = 'instance.requested'
  AND (i.ready_at IS NULL OR i.ready_at > second.created_at)
  AND (i.terminated_at IS NULL OR i.terminated_at > second.created_at)"""
# An instance launched at its provider more than once.
RELAUNCHES = """SELECT subject, count(*) FROM audit_auditevent WHERE action = 'instance.launched'
                GROUP BY subject HAVING count(*) > 1"""
UNITS = "SELECT count(*) FROM fleet_assignment"


def published_to_gpu_queues(stack: chaos_stack.Stack) -> int:
    """Messages published to the vhost's GPU queues, as the broker counts them."""
    queues = stack.world.node.api("GET", f"queues/{quote(stack.vhost, safe='')}")
    return sum(q.get("message_stats", {}).get("publish", 0)
               for q in queues if q["name"].startswith("gpu."))


def submit_burst(stack: chaos_stack.Stack, folder: Path) -> list[str]:
    """Every job at once from four threads, alternating between the two webs."""
    folder.mkdir(parents=True, exist_ok=True)
    media = [(samples.write_audio(folder / f"tone{i}.wav", frequency_hz=400 + 25 * i).path,
              "confidential", "loudness") for i in range(LOCAL_JOBS)]
    media += [(stack.world.images[i], "public", "phash") for i in range(CLOUD_JOBS)]

    def submit(item: tuple[int, tuple[Path, str, str]]) -> str:
        i, (path, confidentiality, analysis) = item
        api = ApiClient(stack.url(("web", "web-2")[i % 2]), stack.world.token)
        return api.submit(path, confidentiality=confidentiality, analyses=[analysis])["id"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(submit, enumerate(media)))


def test_two_webs_and_two_workers_do_everything_once(world: chaos_stack.World,
                                                      scenario_folder: Path,
                                                      tallies: list[harness.Tally]):
    instances = scenario_folder / "instances"
    stack = chaos_stack.start(
        world, "scale", scenario_folder, ROLES, before=(("aima_offers", "refresh"),),
        gpu="Chaos small (simulated):8", AIMA_PROVIDERS="subprocess",
        AIMA_SUBPROCESS_STATE_DIR=str(instances), AIMA_SUBPROCESS_BOOT_DELAY_S="0.5",
        AIMA_SUBPROCESS_GPU="Chaos Cloud (simulated):16",
        AIMA_DEPLOYMENT_ID=f"chaos-{uuid.uuid4().hex[:8]}", AIMA_IDLE_GRACE_S="3",
        AIMA_MAX_INSTANCES_PER_CLASS=str(MAX_INSTANCES))
    try:
        ids = submit_burst(stack, scenario_folder / "uploads")
        tally = harness.Tally("scale-out")
        tallies.append(tally)
        started = time.monotonic()
        harness.settle(stack, [], SETTLE_S)
        harness.count(stack, tally)
        tally.problems += stack.down()
        with psycopg.connect(stack.database_url) as conn:
            double_launches = conn.execute(DOUBLE_LAUNCHES).fetchall()
            relaunches = conn.execute(RELAUNCHES).fetchall()
            launched = conn.execute("SELECT count(*) FROM instances_cloudinstance").fetchone()[0]
            cloud = conn.execute("SELECT count(*) FROM jobs_job WHERE placement->>'scope' = "
                                 "'cloud'").fetchone()[0]
            units = conn.execute(UNITS).fetchone()[0]
        published = wait_for_stats(stack, units)
        tally.seconds = time.monotonic() - started
    finally:
        stack.stop()
        provider = SubprocessProvider({"state_dir": str(instances)})
        for record in instances.glob("sp-*.json"):
            provider.terminate(record.stem)
    print(f"\n{harness.table([tally])}\nscale-out: {launched} instance(s) for {cloud} cloud "
          f"job(s); {published} unit(s) published to GPU queues for {units} unit(s) taken")
    assert len(ids) == tally.submitted == LOCAL_JOBS + CLOUD_JOBS
    assert tally.ok, "\n".join(tally.problems)  # every job succeeded, finalized once
    assert cloud == CLOUD_JOBS and 1 <= launched <= MAX_INSTANCES
    assert not double_launches, "requested for a job whose instance was on its way: " \
        f"(job, first, at, second, at, first ready, first ended) {double_launches}"
    assert not relaunches
    assert published == units  # no unit dispatched twice


def wait_for_stats(stack: chaos_stack.Stack, units: int, timeout_s: float = 15) -> int:
    """The broker's publish count, once its statistics (sampled every 5 s) caught up."""
    deadline = time.monotonic() + timeout_s
    while (published := published_to_gpu_queues(stack)) < units \
            and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(6)  # one more sample: a double publish shows up late too
    return max(published, published_to_gpu_queues(stack))
