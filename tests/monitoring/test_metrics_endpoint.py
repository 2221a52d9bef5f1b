"""/metrics over a known history: parsed with Prometheus's text parser, every
series checked against the seeded rows; and who may read it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from aima_web.instances import billing
from aima_web.instances.models import InstanceState
from aima_web.jobs.states import JobState
from aima_web.monitoring.catalogue import CATALOGUE
from aima_web.placement.models import PlacementPolicy
from tests.monitoring.history import History, queue_holding, seed_fleet, seed_jobs
from tests.monitoring.scrape import Scrape

pytestmark = pytest.mark.django_db

GB = 1024**3


@pytest.fixture
def no_token(settings):
    settings.AIMA_METRICS_TOKEN = ""


@pytest.fixture
def seeded(no_token, alice, client):
    """The history, one scrape of it from this machine, and how long seeding and
    scraping took (an age may have grown by that much)."""
    history = History(now=timezone.now())
    seed_fleet(history)
    jobs = seed_jobs(history, alice)
    with queue_holding("gpu.cloud.80", 2):
        response = client.get("/metrics")
    assert response.status_code == 200, response.content
    slack = (timezone.now() - history.now).total_seconds()
    return history, jobs, Scrape(response.content.decode()), slack


def gpu(history: History, key: str) -> dict:
    g = history.gpus[key]
    scope = "cloud" if key == "c" else "local"
    return {"gpu": str(g.pk), "model": g.model, "host": g.host, "scope": scope,
            "provider": "vastai" if key == "c" else ""}


def test_every_catalogue_name_is_exported(seeded):
    _, _, scrape, _ = seeded
    suffix = {"gauge": "", "counter": "", "histogram": "_count"}
    exported = {s.name for s in scrape.samples}
    missing = [m.name for m in CATALOGUE if m.name + suffix[m.type] not in exported]
    assert missing == []


def test_gpus_show_their_latest_sample(seeded):
    history, _, scrape, _ = seeded
    a, b, c = gpu(history, "a"), gpu(history, "b"), gpu(history, "c")
    assert scrape.value("aima_gpu_utilization_ratio", **a) == pytest.approx(0.75)
    assert scrape.value("aima_gpu_memory_used_bytes", **a) == 6 * GB
    assert scrape.value("aima_gpu_memory_total_bytes", **a) == 24 * GB
    assert scrape.value("aima_gpu_temperature_celsius", **a) == 71
    assert scrape.value("aima_gpu_slowdown_temperature_celsius", **a) == 90
    assert scrape.value("aima_gpu_power_watts", **a) == 300
    assert scrape.value("aima_gpu_temperature_celsius", **b) == 95
    # Not reported is no sample, not a zero.
    assert not scrape.has("aima_gpu_utilization_ratio", **b)
    assert not scrape.has("aima_gpu_temperature_celsius", **c)
    assert scrape.value("aima_gpu_memory_total_bytes", **c) == 80 * GB  # registered size
    assert [scrape.value("aima_gpu_up", **g) for g in (a, b, c)] == [1, 0, 1]
    assert [scrape.value("aima_gpu_failed", **g) for g in (a, b, c)] == [0, 1, 0]
    # Neither the retired GPU nor the one of an ended cloud instance is exported.
    assert len(scrape.series("aima_gpu_up")) == 3


def test_agents_heartbeat_ages(seeded):
    _, _, scrape, slack = seeded
    ages = {labels: v for labels, v in scrape.series("aima_agent_heartbeat_age_seconds").items()}
    expected = {("host-a", "local"): 10, ("host-b", "local"): 600, ("aima-cloud", "cloud"): 5}
    assert {(dict(k)["agent"], dict(k)["scope"]) for k in ages} == set(expected)  # not aima-gone
    for (agent, scope), age in expected.items():
        got = scrape.value("aima_agent_heartbeat_age_seconds", agent=agent, scope=scope)
        assert age <= got <= age + slack


def test_queues(seeded):
    _, _, scrape, slack = seeded
    assert scrape.value("aima_queue_messages", queue="gpu.cloud.80") == 2
    oldest = scrape.value("aima_queue_oldest_message_age_seconds", queue="gpu.local.24")
    assert 120 <= oldest <= 120 + slack  # the job queued 3 s after its creation 123 s ago
    assert 45 <= scrape.value("aima_queue_oldest_message_age_seconds", queue="control") \
        <= 45 + slack
    assert scrape.value("aima_queue_oldest_message_age_seconds", queue="gpu.cloud.8") == 0
    assert scrape.value("aima_queue_wait_target_seconds") == 900


def test_jobs_by_state_and_analysis(seeded):
    _, _, scrape, _ = seeded
    counts = {"succeeded": 1, "failed": 1, "cancelled": 1, "queued": 2, "received": 1}
    for state in JobState:
        assert scrape.value("aima_jobs", state=state.value) == counts.get(state.value, 0)
    for state in ("succeeded", "failed", "cancelled"):
        assert scrape.value("aima_jobs_finished_total", state=state) == 1
    assert scrape.value("aima_job_analyses", state="succeeded", analysis="transcript") == 1
    assert scrape.value("aima_job_analyses", state="succeeded", analysis="shots") == 1
    # One settled on shots, one only asked for it.
    assert scrape.value("aima_job_analyses", state="queued", analysis="shots") == 2
    assert scrape.value("aima_job_analyses", state="running", analysis="faces") == 0


def test_stage_histograms(seeded):
    _, _, scrape, _ = seeded
    name = "aima_job_stage_duration_seconds"
    # done: probing 3, placing 3, queued 62, running 300, total 370;
    # broke: 1, 1, 1, 1000, 1004; dropped: total 2; waits/waits2: probing 1, placing 1.
    expected = {"probing": [3, 1, 1, 1], "placing": [3, 1, 1, 1], "queued": [62, 1],
                "running": [300, 1000], "total": [370, 1004, 2]}
    for stage, values in expected.items():
        assert scrape.value(name + "_count", stage=stage) == len(values)
        assert scrape.value(name + "_sum", stage=stage) == pytest.approx(sum(values))
    assert scrape.value(name + "_bucket", stage="running", le="300.0") == 1
    assert scrape.value(name + "_bucket", stage="running", le="600.0") == 1
    assert scrape.value(name + "_bucket", stage="running", le="1800.0") == 2
    assert scrape.value(name + "_bucket", stage="total", le="5.0") == 1
    assert scrape.value(name + "_bucket", stage="total", le="+Inf") == 3


def test_placement_decisions(seeded):
    _, _, scrape, _ = seeded
    decisions = scrape.series("aima_placement_decisions_total")
    assert decisions == {
        (("provider", ""), ("reason", "local_cheaper"), ("scope", "local")): 3,
        (("provider", "vastai"), ("reason", "cloud_cheaper"), ("scope", "cloud")): 1}


def test_cloud_spend_and_instances(seeded):
    history, _, scrape, slack = seeded
    now, start = history.now, billing.month_start(history.now)

    def billed(price: float, launched_ago: float, ended_ago: float = 0) -> float:
        begin = max(now.timestamp() - launched_ago, start.timestamp())
        return price * max(now.timestamp() - ended_ago - begin, 0) / 3600

    spend = billed(1.5, 7200) + billed(0.8, 3600) + billed(2.0, 5400, 1800)
    assert scrape.value("aima_cloud_spend_month") == pytest.approx(spend, abs=2.3 * slack / 3600
                                                                   + 1e-9)
    assert scrape.value("aima_cloud_spend_per_hour") == pytest.approx(2.3)
    assert scrape.value("aima_cloud_budget_month") == 500
    states = scrape.series("aima_cloud_instances")
    assert len(states) == 2 * len(InstanceState)  # every state of each provider
    assert {k: v for k, v in states.items() if v} == {
        (("provider", "vastai"), ("state", "busy")): 1,
        (("provider", "vastai"), ("state", "terminated")): 1,
        (("provider", "runpod"), ("state", "idle")): 1,
        (("provider", "runpod"), ("state", "requested")): 1}
    busy, idle = history.instances["busy"].name, history.instances["idle"].name
    assert scrape.series("aima_cloud_instance_price_per_hour") == {
        (("cloud_instance", busy), ("gpu_model", "A100"), ("provider", "vastai")): 1.5,
        (("cloud_instance", idle), ("gpu_model", "L40S"), ("provider", "runpod")): 0.8}
    idle_of = "aima_cloud_instance_idle_seconds"
    assert scrape.value(idle_of, cloud_instance=busy, provider="vastai") == 0
    idle_s = scrape.value(idle_of, cloud_instance=idle, provider="runpod")
    assert 300 <= idle_s <= 300 + slack


def test_inference_histogram(seeded):
    _, _, scrape, _ = seeded
    name = "aima_analysis_inference_seconds"
    assert scrape.value(name + "_count", analysis="shots", gpu_model="RTX 4090") == 1
    assert scrape.value(name + "_sum", analysis="shots", gpu_model="RTX 4090") == \
        pytest.approx(0.3)
    assert scrape.value(name + "_bucket", analysis="shots", gpu_model="RTX 4090",
                        le="0.1") == 0
    assert scrape.value(name + "_bucket", analysis="shots", gpu_model="RTX 4090",
                        le="0.5") == 1
    assert scrape.value(name + "_sum", analysis="transcript", gpu_model="RTX 4090") == \
        pytest.approx(4.0)
    # A cloud agent's result: the model of its instance's GPU.
    assert scrape.value(name + "_count", analysis="shots", gpu_model="A100") == 1
    assert scrape.value(name + "_bucket", analysis="shots", gpu_model="A100", le="30.0") == 0
    assert scrape.value(name + "_bucket", analysis="shots", gpu_model="A100", le="60.0") == 1


def test_with_no_data_every_state_is_zero_and_the_names_are_there(no_token, client):
    response = client.get("/metrics")
    assert response.status_code == 200
    scrape = Scrape(response.content.decode())
    assert {s.labels["state"]: s.value for s in scrape.samples if s.name == "aima_jobs"} == \
        {state.value: 0 for state in JobState}
    assert scrape.value("aima_jobs_finished_total", state="failed") == 0
    assert scrape.value("aima_cloud_spend_month") == 0
    assert scrape.value("aima_cloud_spend_per_hour") == 0
    assert scrape.value("aima_queue_oldest_message_age_seconds", queue="control") == 0
    assert scrape.value("aima_job_stage_duration_seconds_count", stage="total") == 0
    # No budget: no sample, so no budget alert can fire; its name is still described.
    assert not scrape.has("aima_cloud_budget_month")
    assert "# TYPE aima_cloud_budget_month gauge" in response.content.decode()
    # Scraping wrote nothing (the placement policy is not created by reading it).
    assert not PlacementPolicy.objects.exists()


ELSEWHERE = {"REMOTE_ADDR": "203.0.113.7"}


def test_without_a_token_only_this_machine_reads_it(no_token, client):
    assert client.get("/metrics", **ELSEWHERE).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_with_a_token_it_takes_the_token_and_nothing_else(settings, client):
    settings.AIMA_METRICS_TOKEN = "s3cret-metrics"
    missing = client.get("/metrics", **ELSEWHERE)
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metricz", **ELSEWHERE)
    assert wrong.status_code == 403 and b"aima_" not in wrong.content
    # The token is asked of this machine too, once there is one.
    assert client.get("/metrics").status_code == 401
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics", **ELSEWHERE)
    assert right.status_code == 200 and b"aima_jobs{" in right.content
    assert right["Content-Type"].startswith("text/plain")
    assert client.post("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics").status_code == 405
