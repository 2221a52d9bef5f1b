"""The analysts' pages: upload media and follow its job, the list of one's own jobs,
and one job's page.

Server-rendered; only the upload page has a script (static/analyst/upload.js), and it
speaks the public REST API like any other client: the resumable uploads, then the jobs
API. Callers are admitted as on every page outside the API (``pages.refusal``): a
verified session or an API token; nobody signed in goes to the site's login.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.views.generic import DetailView, ListView, TemplateView

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.classification import Confidentiality, Urgency
from aima_web.access.roles import Capability
from aima_web.access.visibility import visible_jobs
from aima_web.accounts import pages
from aima_web.core.choices import choices
from aima_web.jobs import progress
from aima_web.jobs.models import Job
from aima_web.jobs.states import TERMINAL, UNPLACED, JobState
from aima_web.placement.models import PlacementPolicy
from aima_web.usage import costs

JOBS_PER_PAGE = 50
# The page's own pick before the user chooses: the level that never leaves local
# hardware, so that forgetting to choose never sends media to a cloud.
DEFAULT_CONFIDENTIALITY = Confidentiality.CONFIDENTIAL
MEBIBYTE = 1024 * 1024


def placement_sentence(job: Job) -> str:
    """The placement decision in one sentence, and why a queued job still waits."""
    if job.state in UNPLACED:
        return "Not placed yet: the media is checked first."
    said = str((job.placement or {}).get("reason") or "")
    if job.state == JobState.QUEUED and job.wait_reason:
        said = f"{said} Waiting: {job.wait_reason}".strip()
    return said


def shown(job: Job, policy: PlacementPolicy) -> dict[str, Any]:
    """What a page shows of a job beside the job itself. Its cost is counted as the
    usage reports and the dashboard count it (local energy and depreciation, or the
    cloud's bill); None while it has not run."""
    cost = (costs.job_cost(job, timezone.now(), float(policy.energy_price_per_kwh)).cost
            if job.running_at else None)
    return {"job": job, "progress": progress.of(job), "placement": placement_sentence(job),
            "finished": job.state in TERMINAL, "cost": cost, "currency": policy.currency,
            "report_url": reverse("job-report", args=[job.id]) + "?format=html"}


def _with_costs(jobs):
    """What job_cost reads of each job, fetched with it."""
    return (jobs.select_related("media", "owner", "gpu", "agent__instance")
            .prefetch_related("results"))


class UploadPage(pages.Admitted, TemplateView):
    """Upload a medium, set how its job runs, then follow the job to its report."""

    needed = Capability.SUBMIT_JOBS
    what = "Uploads"
    template_name = "analyst/upload.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        limit = settings.AIMA_MAX_UPLOAD_BYTES
        # The same sources JobCreateSerializer checks against.
        analyses = [{"name": name, "description": spec.description,
                     "media_types": sorted(str(kind) for kind in spec.media_types)}
                    for name, spec in catalogue().specs.items()]
        return {**super().get_context_data(**kwargs),
                "confidentiality": choices(Confidentiality),
                "confidentiality_default": DEFAULT_CONFIDENTIALITY.value,
                "urgency": choices(Urgency), "urgency_default": Urgency.NORMAL.value,
                "analyses": analyses, "max_bytes": limit, "max_mb": limit // MEBIBYTE,
                "uploads_url": reverse("upload-list"), "jobs_url": reverse("job-list"),
                "job_pages": reverse("analyst:jobs"),
                # The script stops polling at these and names the placement by them.
                "terminal": sorted(TERMINAL), "unplaced": sorted(UNPLACED)}


class JobList(pages.Admitted, ListView):
    """The caller's own jobs, newest first."""

    needed = Capability.VIEW_JOBS
    what = "Job lists"
    template_name = "analyst/jobs.html"
    paginate_by = JOBS_PER_PAGE

    def get_queryset(self):
        return _with_costs(Job.objects.filter(owner=self.request.user)
                           .order_by("-created_at", "-id"))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        policy = PlacementPolicy.current()
        context["rows"] = [shown(job, policy) for job in context["object_list"]]
        return context


class JobPage(pages.Admitted, DetailView):
    """One job: the caller's own, or any other the API would show them (their team's,
    or every job with VIEW_ALL_JOBS); anything else is not there (404)."""

    needed = Capability.VIEW_JOBS
    what = "Job pages"
    template_name = "analyst/job.html"

    def get_object(self, queryset=None) -> Job:
        found = visible_jobs(self.request.user, _with_costs(Job.objects.all()))
        job = found.filter(pk=self.kwargs["job_id"]).first()
        if job is None:
            raise Http404("no such job")
        return job

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        job = self.object
        stamps = [(label, getattr(job, field)) for label, field in (
            ("Submitted", "created_at"), ("Probing", "probing_at"), ("Placing", "placing_at"),
            ("Queued", "queued_at"), ("Running", "running_at"), ("Finished", "finished_at"))]
        return {**super().get_context_data(**kwargs), **shown(job, PlacementPolicy.current()),
                "stamps": stamps}
