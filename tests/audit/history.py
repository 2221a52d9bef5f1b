"""A real audit history, made through the real code paths: the jobs API, the admin
login page (wrong password first), an admin change, reading a job's results."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from agents import samples

ADMIN_PASSWORD = "pw-root-long-enough"
INTRUDER_ADDRESS = "203.0.113.7"


def make_history(api: APIClient, superuser_model, tmp_path) -> dict[str, int]:
    """Returns the ids of what it made: the job and the admin's group."""
    superuser_model.objects.create_superuser("root", "root@example.org", ADMIN_PASSWORD)
    image = samples.write_image(tmp_path / "photo.jpg")
    with image.path.open("rb") as media:
        job = api.post("/api/v1/jobs/", {"media": media, "confidentiality": "internal"},
                       format="multipart")
    assert job.status_code == 201, job.content
    browser = Client(REMOTE_ADDR=INTRUDER_ADDRESS)
    wrong = browser.post("/admin/login/", {"username": "root", "password": "guess-1234"})
    assert wrong.status_code == 200  # the form again, with its error
    admin = Client()
    assert admin.post("/admin/login/", {"username": "root", "password": ADMIN_PASSWORD,
                                        "next": "/admin/"}).status_code == 302
    added = admin.post("/admin/auth/group/add/", {"name": "forensics"})
    assert added.status_code == 302, added.content.decode()[:2000]
    group = Group.objects.get(name="forensics")
    changed = admin.post(f"/admin/auth/group/{group.id}/change/", {"name": "forensics-eu"})
    assert changed.status_code == 302, changed.content.decode()[:2000]
    assert api.get(f"/api/v1/jobs/{job.json()['id']}/results/").status_code == 200
    return {"job": job.json()["id"], "group": group.id}
