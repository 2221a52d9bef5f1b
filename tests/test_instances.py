"""The instance lifecycle in the control plane, against the real `subprocess`
provider: demand, caps, launch failures and the next offer, boot timeouts,
idle termination with cost, and the reconciler after a crash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aima_tasks.broker import EMBEDDED_BROKER_URL
from aima_web.fleet import services as fleet
from aima_web.fleet.models import Agent
from aima_web.instances import capacity, ending, launching, offers, reconcile, registry, upkeep
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.tasks import launch_task
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.placement.models import CloudOffer, PlacementPolicy
from providers.base import DEPLOYMENT_TAG, LaunchSpec, Requirements
from providers.base import InstanceState as ProviderState
from tests.placing import run_to_queue
from tests.test_api_jobs import submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloud(monkeypatch, tmp_path, settings):
    """The subprocess provider, booting slowly enough that no agent ever starts."""
    monkeypatch.setenv("AIMA_PROVIDERS", "subprocess")
    monkeypatch.setenv("AIMA_SUBPROCESS_STATE_DIR", str(tmp_path / "instances"))
    monkeypatch.setenv("AIMA_SUBPROCESS_BOOT_DELAY_S", "120")
    monkeypatch.setenv("AIMA_SUBPROCESS_PRICE_PER_HOUR", "0.9")
    settings.AIMA_DEPLOYMENT_ID = "test-deployment"
    # No agent starts here, so none needs a broker user of its own: on RabbitMQ too the
    # instances are given the embedded broker (tests/broker and the cloud end-to-end
    # tests mint and delete real users).
    settings.AIMA_BROKER_URL = EMBEDDED_BROKER_URL
    registry.reload_providers()
    assert offers.refresh_offers() == {}
    yield registry.providers().get("subprocess")
    for instance in registry.providers().get("subprocess").list_instances({}):
        registry.providers().get("subprocess").terminate(instance.instance_id)
    registry.reload_providers()


def queued_cloud_job(api, video_file) -> Job:
    job = run_to_queue(submit(api, video_file.path, confidentiality="public").json()["id"])
    assert job.state == JobState.QUEUED and job.placement["scope"] == "cloud"
    return job


def test_one_instance_per_queued_cloud_job_and_no_more(cloud, api, video_file):
    queued_cloud_job(api, video_file)
    created = capacity.ensure_capacity()
    assert len(created) == 1
    assert capacity.ensure_capacity() == []  # the first one is on its way
    instance = CloudInstance.objects.get(pk=created[0])
    assert (instance.provider, instance.gpu_class, instance.state) == ("subprocess", 24,
                                                                       InstanceState.REQUESTED)


def test_a_cap_holds_the_job_with_its_reason(cloud, api, video_file, settings):
    settings.AIMA_MAX_INSTANCES_PER_CLASS = 1
    queued_cloud_job(api, video_file)
    second = queued_cloud_job(api, video_file)
    assert len(capacity.ensure_capacity()) == 1
    second.refresh_from_db()
    assert "AIMA_MAX_INSTANCES_PER_CLASS" in second.wait_reason
    assert CloudInstance.objects.count() == 1


def test_a_spend_cap_holds_the_job_with_its_reason(cloud, api, video_file, settings):
    settings.AIMA_MAX_SPEND_PER_HOUR = 1.0  # room for one instance at 0.90 per hour
    queued_cloud_job(api, video_file)
    second = queued_cloud_job(api, video_file)
    assert len(capacity.ensure_capacity()) == 1
    second.refresh_from_db()
    assert "cost 0.90 per hour" in second.wait_reason
    assert "AIMA_MAX_SPEND_PER_HOUR" in second.wait_reason


def test_launch_boots_then_a_boot_timeout_ends_it_billed(cloud, api, video_file, settings):
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    assert launching.launch(instance_id) == "launched"
    instance = CloudInstance.objects.get(pk=instance_id)
    assert instance.state == InstanceState.BOOTING and instance.provider_instance_id
    assert cloud.describe(instance.provider_instance_id).state == ProviderState.RUNNING
    later = timezone.now() + timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S + 1)
    CloudInstance.objects.filter(pk=instance_id).update(
        launched_at=timezone.now() - timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S + 1))
    counts = upkeep.tick(now=later)
    instance.refresh_from_db()
    assert counts["boot_timeouts"] == 1 and instance.state == InstanceState.FAILED
    assert "did not register" in instance.error
    assert cloud.describe(instance.provider_instance_id).state == ProviderState.TERMINATED
    assert instance.cost == pytest.approx(0.9 * (settings.AIMA_BOOT_TIMEOUT_S + 1) / 3600,
                                          rel=0.01)
    # The job still waits: the tick asks for a new instance for it, on the
    # same offer, there being no other.
    assert counts["requested"] == 1
    [replacement] = CloudInstance.objects.filter(state=InstanceState.REQUESTED)
    assert replacement.offer_id == instance.offer_id


def test_after_a_failed_boot_another_offer_is_preferred(cloud, api, video_file, settings):
    queued_cloud_job(api, video_file)
    add_offer("subprocess:OTHER", price_per_hour=1.5)
    [instance_id] = capacity.ensure_capacity()
    launching.launch(instance_id)
    CloudInstance.objects.filter(pk=instance_id).update(
        launched_at=timezone.now() - timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S + 1))
    assert upkeep.tick()["boot_timeouts"] == 1
    [replacement] = CloudInstance.objects.filter(state=InstanceState.REQUESTED)
    assert (replacement.offer_id, replacement.price_per_hour) == ("subprocess:OTHER", 1.5)


def test_a_spent_monthly_budget_holds_the_job(cloud, api, video_file):
    job = queued_cloud_job(api, video_file)  # placed while the budget allowed it
    # An instance that has billed 2.00 this month.
    CloudInstance.objects.create(provider="subprocess", offer_id="x", gpu_class=24,
                                 price_per_hour=2.0, state=InstanceState.TERMINATED,
                                 launched_at=timezone.now() - timedelta(hours=1),
                                 terminated_at=timezone.now())
    PlacementPolicy.objects.filter(pk=PlacementPolicy.current().pk).update(monthly_budget=2)
    assert capacity.ensure_capacity() == []
    job.refresh_from_db()
    assert "2.00 of this month's cloud budget of 2.00 is spent" in job.wait_reason
    PlacementPolicy.objects.filter(pk=PlacementPolicy.current().pk).update(monthly_budget=3)
    assert len(capacity.ensure_capacity()) == 1
    job.refresh_from_db()
    assert job.wait_reason == ""


def add_offer(key: str, price_per_hour: float) -> None:
    """A dearer second offer of the subprocess provider, in another region."""
    offer = CloudOffer.objects.get(provider="subprocess")
    CloudOffer.objects.create(**{**{f.name: getattr(offer, f.name) for f in offer._meta.fields
                                    if f.name != "id"},
                                 "key": key, "region": key.split(":")[1], "offer_id": key,
                                 "price_per_hour": price_per_hour})


def test_a_refused_launch_moves_on_to_the_next_offer(cloud, api, video_file, monkeypatch):
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    # A dearer second offer, and a provider that refuses every launch.
    add_offer("subprocess:OTHER", price_per_hour=1.5)
    monkeypatch.setenv("AIMA_SUBPROCESS_FAIL_LAUNCH_SHARE", "1")
    registry.reload_providers()
    assert launching.launch(instance_id) == "retry"
    instance = CloudInstance.objects.get(pk=instance_id)
    assert instance.state == InstanceState.REQUESTED and instance.offer_id == "subprocess:OTHER"
    assert instance.tried_offers == ["subprocess:LOCAL"] and "CapacityError" in instance.error
    assert launching.launch(instance_id) == "failed"  # nothing left to try
    instance.refresh_from_db()
    assert instance.state == InstanceState.FAILED
    assert cloud.list_instances({}) == []


def test_ready_busy_idle_then_terminated_after_the_grace(cloud, api, video_file, settings):
    settings.AIMA_IDLE_GRACE_S = 30
    job = queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    launching.launch(instance_id)
    instance = CloudInstance.objects.get(pk=instance_id)
    # The instance's agent enrols with the token made for it.
    agent = Agent.objects.create(name=instance.name, scope="cloud", credential_hash="x" * 64,
                                 enrolled_with=instance.enrollment_token)
    upkeep.agent_registered(agent, instance.enrollment_token)
    assert CloudInstance.objects.get(pk=instance_id).state == InstanceState.READY
    Job.objects.transition(job.pk, JobState.RUNNING, agent=agent)
    upkeep.job_started(agent.pk)
    assert CloudInstance.objects.get(pk=instance_id).state == InstanceState.BUSY
    Job.objects.transition(job.pk, JobState.SUCCEEDED)
    upkeep.job_finished(str(job.pk))
    job.refresh_from_db()
    assert job.cost is not None and job.cost >= 0
    assert CloudInstance.objects.get(pk=instance_id).state == InstanceState.IDLE
    assert upkeep.tick()["idle_ended"] == 0  # within the grace
    ended = upkeep.tick(now=timezone.now() + timedelta(seconds=31))
    instance.refresh_from_db()
    assert ended["idle_ended"] == 1 and instance.state == InstanceState.TERMINATED
    assert instance.cost == pytest.approx(
        0.9 * instance.billed_seconds() / 3600, rel=0.01)
    # The instance's enrollment token can enrol nothing any more, and its agent's
    # credential is dead: the ended host can no longer register, take work or report.
    assert instance.enrollment_token.revoked
    agent.refresh_from_db()
    assert agent.credential_hash != "x" * 64


def test_reconciler_ends_what_a_crashed_control_plane_left_behind(cloud, api, video_file):
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    CloudInstance.objects.filter(pk=instance_id).update(state=InstanceState.PROVISIONING)
    [offer] = cloud.offers(Requirements())
    ours = {DEPLOYMENT_TAG: "test-deployment"}
    # A host of this deployment the database has no row for (a lost database,
    # a launch by hand), and one for a row that ended long ago.
    unknown = cloud.launch(offer, LaunchSpec(name="aima-orphan", image="", env={},
                                             command="sleep 60", tags=ours))
    ended = CloudInstance.objects.create(provider="subprocess", offer_id="x", gpu_class=24,
                                         state=InstanceState.FAILED)
    leftover = cloud.launch(offer, LaunchSpec(name="aima-old", image="", env={},
                                              command="sleep 60",
                                              tags=registry.instance_tags(ended.pk)))
    stranger = cloud.launch(offer, LaunchSpec(name="other", image="", env={},
                                              command="sleep 60",
                                              tags={DEPLOYMENT_TAG: "someone-else"}))
    report = reconcile.reconcile()
    assert sorted(report["terminated_unknown"]) == sorted(
        f"subprocess:{i.instance_id}" for i in (unknown, leftover))
    assert cloud.describe(unknown.instance_id).state == ProviderState.TERMINATED
    # Another deployment's instances are none of our business.
    assert cloud.describe(stranger.instance_id).state == ProviderState.RUNNING
    # The launch that never finished, and started nothing, is tried again
    # once its time is up.
    CloudInstance.objects.filter(pk=instance_id).update(due_at=timezone.now())
    assert upkeep.tick()["recovered"] == 1
    instance = CloudInstance.objects.get(pk=instance_id)
    assert instance.state == InstanceState.REQUESTED and "control worker was lost" in instance.error
    assert cloud.list_instances(ours) == []


def test_a_launch_cut_short_is_adopted_from_its_tag(cloud, api, video_file):
    """The control worker died after the provider started the host but before
    the database learnt its id: the tick finds it by its tag and keeps it."""
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    CloudInstance.objects.filter(pk=instance_id).update(state=InstanceState.PROVISIONING)
    [offer] = cloud.offers(Requirements())
    started = cloud.launch(offer, LaunchSpec(name="aima-x", image="", env={}, command="sleep 60",
                                             tags=registry.instance_tags(instance_id)))
    # While its launch may still be under way, the reconciler leaves it be.
    assert reconcile.reconcile()["terminated_unknown"] == []
    CloudInstance.objects.filter(pk=instance_id).update(due_at=timezone.now())
    assert upkeep.tick()["recovered"] == 1
    instance = CloudInstance.objects.get(pk=instance_id)
    assert instance.state == InstanceState.BOOTING
    assert instance.provider_instance_id == started.instance_id
    assert cloud.describe(started.instance_id).state == ProviderState.RUNNING
    assert reconcile.reconcile() == {"terminated_unknown": [], "adopted": [],
                                    "marked_vanished": [], "broker_users_removed": []}


def test_an_agent_faster_than_its_launch_keeps_its_instance(cloud, api, video_file):
    """The agent enrols while the provider's API has not answered yet."""
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    CloudInstance.objects.filter(pk=instance_id).update(state=InstanceState.PROVISIONING)
    instance = CloudInstance.objects.get(pk=instance_id)
    secret = launching.enrol(instance)
    [offer] = cloud.offers(Requirements())
    started = cloud.launch(offer, launching.launch_spec(instance, secret))
    fleet.enrol(instance.enrollment_token, name=instance.name,
                   version="test", gpus=[])
    assert CloudInstance.objects.get(pk=instance_id).state == InstanceState.READY
    # The reconciler, running before the launch is recorded, learns the id.
    assert reconcile.reconcile()["adopted"] == [f"subprocess:{started.instance_id}"]
    instance = CloudInstance.objects.get(pk=instance_id)
    assert instance.state == InstanceState.READY
    assert instance.provider_instance_id == started.instance_id
    assert instance.launched_at == started.launched_at  # billed from the provider's start


def test_a_second_host_for_one_instance_is_terminated(cloud, api, video_file):
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    launching.launch(instance_id)
    kept = CloudInstance.objects.get(pk=instance_id).provider_instance_id
    # A first launch that timed out at our end but started a host after all.
    [offer] = cloud.offers(Requirements())
    extra = cloud.launch(offer, LaunchSpec(name="aima-x", image="", env={}, command="sleep 60",
                                           tags=registry.instance_tags(instance_id)))
    assert reconcile.reconcile()["terminated_unknown"] == [f"subprocess:{extra.instance_id}"]
    assert cloud.describe(kept).state == ProviderState.RUNNING


def test_launches_are_sent_once_when_due_and_again_when_lost(cloud, api, video_file):
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    now = timezone.now()
    assert launching.claim_due_launches(now) == [instance_id]
    assert launching.claim_due_launches(now) == []  # its message is on its way
    # Taken by no worker (it died): sent again once the lease is over.
    later = now + timedelta(seconds=launching.DISPATCH_LEASE_S + 1)
    assert launching.claim_due_launches(later) == [instance_id]


def test_a_retry_waits_its_backoff_in_the_row(cloud, api, video_file, monkeypatch, settings):
    settings.AIMA_LAUNCH_ATTEMPTS = 3
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    monkeypatch.setenv("AIMA_SUBPROCESS_FAIL_LAUNCH_SHARE", "1")
    monkeypatch.setenv("AIMA_SUBPROCESS_FAIL_AS", "transient")
    registry.reload_providers()
    before = timezone.now()
    assert launching.launch(instance_id) == "retry"
    instance = CloudInstance.objects.get(pk=instance_id)
    assert instance.offer_id == "subprocess:LOCAL"  # a transient error: the same offer
    delay = (instance.due_at - before).total_seconds()
    assert launching.retry_delay_s(1) <= delay < launching.retry_delay_s(1) + 5
    assert launching.claim_due_launches(before) == []
    assert launching.claim_due_launches(instance.due_at) == [instance_id]


def test_an_instance_gone_at_the_provider_is_marked_terminated(cloud, api, video_file):
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    launching.launch(instance_id)
    instance = CloudInstance.objects.get(pk=instance_id)
    cloud.terminate(instance.provider_instance_id)  # e.g. a spot interruption
    CloudInstance.objects.filter(pk=instance_id).update(
        launched_at=timezone.now() - timedelta(seconds=120))
    report = reconcile.reconcile()
    assert report["marked_vanished"] == [f"subprocess:{instance.provider_instance_id}"]
    instance.refresh_from_db()
    assert instance.state == InstanceState.TERMINATED and instance.cost > 0


def test_registration_with_an_instance_token_marks_it_ready(cloud, api, video_file):
    queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    launching.launch(instance_id)
    instance = CloudInstance.objects.get(pk=instance_id)
    # A 48 GB card could serve every class up to 48: its agent gets its instance's class only.
    big = fleet.ReportedGpu(uuid="GPU-cloud-1", model="Cloud 48", vram_gb=48,
                            cuda_version="12.2", simulated=True)
    registration = fleet.enrol(instance.enrollment_token, name=instance.name,
                                  version="test", gpus=[big])
    instance.refresh_from_db()
    assert instance.state == InstanceState.READY and instance.agent_id == registration.agent.id
    assert registration.agent.queues == ["gpu.cloud.24"]


def test_ending_an_instance_whose_launch_was_cut_short_ends_its_host(cloud, api, video_file,
                                                                      settings):
    settings.AIMA_IDLE_GRACE_S = 0
    job = queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    CloudInstance.objects.filter(pk=instance_id).update(state=InstanceState.PROVISIONING)
    instance = CloudInstance.objects.get(pk=instance_id)
    [offer] = cloud.offers(Requirements())
    host = cloud.launch(offer, launching.launch_spec(instance, launching.enrol(instance)))
    fleet.enrol(instance.enrollment_token, name=instance.name,
                   version="test", gpus=[])
    Job.objects.filter(pk=job.pk).update(state=JobState.CANCELLED)
    assert upkeep.tick()["idle_ended"] == 1
    instance.refresh_from_db()
    assert instance.state == InstanceState.TERMINATED
    assert instance.provider_instance_id == host.instance_id
    assert instance.launched_at == host.launched_at and instance.cost > 0
    assert cloud.describe(host.instance_id).state == ProviderState.TERMINATED


@pytest.mark.django_db(transaction=True)
def test_instances_wanted_together_are_launched_side_by_side(cloud, api, video_file,
                                                              monkeypatch):
    # Each launch call takes a second after its host exists, as a cloud API's does.
    monkeypatch.setenv("AIMA_SUBPROCESS_LAUNCH_DELAY_S", "1")
    registry.reload_providers()
    offers.refresh_offers()
    for _ in range(3):
        queued_cloud_job(api, video_file)
    created = capacity.ensure_capacity()
    outcomes = launch_task(launching.claim_due_launches())
    assert outcomes == {str(i): "launched" for i in created}
    hosts = sorted(cloud.list_instances({}), key=lambda h: h.launched_at)
    # Every host was started before the first launch call returned.
    assert len(hosts) == 3
    assert (hosts[-1].launched_at - hosts[0].launched_at).total_seconds() < 1
    assert set(CloudInstance.objects.values_list("state", flat=True)) == {InstanceState.BOOTING}


def test_an_instance_whose_agent_fell_silent_is_ended(cloud, api, video_file, settings):
    queued_cloud_job(api, video_file)
    instance, agent = ready_instance()
    assert upkeep.tick()["agent_lost"] == 0
    Agent.objects.filter(pk=agent.pk).update(
        last_heartbeat=timezone.now() - timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S + 1))
    assert upkeep.tick()["agent_lost"] == 1
    instance.refresh_from_db()
    assert instance.state == InstanceState.FAILED and "no heartbeat" in instance.error
    assert cloud.describe(instance.provider_instance_id).state == ProviderState.TERMINATED


def test_a_busy_instance_about_to_finish_takes_the_next_job(cloud, api, video_file):
    running = queued_cloud_job(api, video_file)
    instance, agent = ready_instance()
    runtime = running.placement["choice"]["runtime_s"]
    # Two seconds of its estimated run left: less than a new instance's boot.
    Job.objects.transition(running.pk, JobState.RUNNING, agent=agent)
    Job.objects.filter(pk=running.pk).update(
        running_at=timezone.now() - timedelta(seconds=runtime - 2))
    upkeep.job_started(agent.pk)
    queued = queued_cloud_job(api, video_file)
    assert queued.placement["choice"]["wait_s"] > 2
    assert capacity.ensure_capacity() == []
    queued.refresh_from_db()
    assert f"{instance.name} finishes its job in about 2 s" in queued.wait_reason
    # Past its estimate, the running job says nothing of when it ends: rent.
    Job.objects.filter(pk=running.pk).update(
        running_at=timezone.now() - timedelta(seconds=runtime + 1))
    assert len(capacity.ensure_capacity()) == 1


def ready_instance() -> tuple[CloudInstance, Agent]:
    """A launched instance whose agent has enrolled."""
    [instance_id] = capacity.ensure_capacity()
    launching.launch(instance_id)
    instance = CloudInstance.objects.get(pk=instance_id)
    agent = fleet.enrol(instance.enrollment_token, name=instance.name,
                           version="test", gpus=[]).agent
    instance.refresh_from_db()
    return instance, agent


def test_a_job_ending_after_its_successor_started_leaves_the_instance_busy(
        cloud, api, video_file, settings):
    settings.AIMA_IDLE_GRACE_S = 0
    first = queued_cloud_job(api, video_file)
    instance, agent = ready_instance()
    second = queued_cloud_job(api, video_file)
    for job in (first, second):
        Job.objects.transition(job.pk, JobState.RUNNING, agent=agent)
        upkeep.job_started(agent.pk)
    # The first job's end reaches the control plane after the second started.
    Job.objects.transition(first.pk, JobState.SUCCEEDED)
    upkeep.job_finished(str(first.pk))
    instance.refresh_from_db()
    assert instance.state == InstanceState.BUSY
    assert upkeep.tick()["idle_ended"] == 0
    # Told of too late by a lost message: the reaper still sees the running job.
    CloudInstance.objects.filter(pk=instance.pk).update(state=InstanceState.IDLE,
                                                        idle_since=timezone.now())
    assert upkeep.tick()["idle_ended"] == 0
    assert CloudInstance.objects.get(pk=instance.pk).state == InstanceState.BUSY


def test_a_job_stranded_on_an_ended_instance_gets_a_new_one_or_is_given_up(
        cloud, api, video_file):
    job = queued_cloud_job(api, video_file)
    instance, agent = ready_instance()
    Job.objects.transition(job.pk, JobState.RUNNING, agent=agent)
    upkeep.job_started(agent.pk)
    # Its host died under it (a spot interruption, a silent agent).
    ending.terminate(CloudInstance.objects.get(pk=instance.pk), "test", failed=True)
    [replacement_id] = capacity.ensure_capacity()
    launching.launch(replacement_id)
    replacement = CloudInstance.objects.get(pk=replacement_id)
    fleet.enrol(replacement.enrollment_token, name=replacement.name,
                   version="test", gpus=[])
    # The new instance is kept for it, and waits for its task to come back.
    assert upkeep.tick()["lost_jobs"] == 0
    assert CloudInstance.objects.get(pk=replacement_id).state == InstanceState.READY
    # Idle beside it for a minute: the task is gone; the job fails, saying why.
    CloudInstance.objects.filter(pk=replacement_id).update(
        idle_since=timezone.now() - timedelta(seconds=upkeep.LOST_JOB_WAIT_S + 1))
    assert upkeep.tick()["lost_jobs"] == 1
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert f"its instance {instance.name} ended while it ran" in job.error
    assert capacity.ensure_capacity() == []
