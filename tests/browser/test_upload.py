"""An analyst's and an operator's day in a real browser: upload a video through the
page with its progress bar, watch the job finish, open its report, find its cost and
the GPU on the dashboard; and an upload whose chunk is cut off midway resumes from
the server's offset and stores the very bytes that were chosen."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, Route, expect

from agents import samples
from devtools import demo
from devtools.api_client import ApiError
from devtools.stack import Stack
from tests.uploads import video

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

# A job on a small clip finishes in seconds; CI machines are slower.
JOB_TIMEOUT_MS = 120_000
# An amount as the pages write it (aima_web/core/templatetags/money.py), e.g.
# "1,250.00 EUR" or, under a cent, "0.0003 USD".
MONEY = re.compile(r"-?\d[\d,]*\.\d{2,4} [A-Z]{3}")


def start_upload(page: Page, media: Path, confidentiality: str = "internal") -> None:
    page.set_input_files("#media", str(media))
    page.select_option("select#confidentiality", confidentiality)
    page.click("button#start")


def wait_uploaded(page: Page) -> None:
    """progress#upload-progress reaches its maximum, 100."""
    page.wait_for_function(
        "() => { const bar = document.querySelector('progress#upload-progress');"
        " return bar !== null && bar.max === 100 && bar.value >= 100; }")


def job_id_of(page: Page) -> str:
    """The job the page follows, from a#job-link's /jobs/<id>/."""
    link = page.locator("a#job-link")
    expect(link).to_have_attribute("href", re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    return re.search(r"/jobs/([0-9a-f-]{36})/$", link.get_attribute("href") or "").group(1)


def open_report(page: Page) -> Page:
    """Click a#report-link; the report in whichever tab it opens."""
    link = page.locator("a#report-link")
    expect(link).to_be_visible()
    if link.get_attribute("target") == "_blank":
        with page.context.expect_page() as opened:
            link.click()
        report = opened.value
    else:
        link.click()
        report = page
    report.wait_for_load_state()
    return report


def test_upload_watch_the_job_finish_read_the_report_and_find_it_on_the_dashboard(
        signed_in: Page, stack: Stack, shoot: Callable[[Page, str], Path], tmp_path: Path):
    page = signed_in
    clip = samples.write_video(tmp_path / "browser clip.mp4")
    page.goto(f"{stack.base_url}/upload/")
    shoot(page, "upload-page")
    start_upload(page, clip.path)
    wait_uploaded(page)
    shoot(page, "uploaded")

    state = page.locator("#job-state")
    expect(state).to_be_visible()
    job_id = job_id_of(page)
    shoot(page, "job-created")
    expect(state).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#job-placement")).not_to_be_empty()
    shoot(page, "job-succeeded")

    report = open_report(page)
    expect(report).to_have_title(re.compile(r"^Report: "))
    expect(report.get_by_role("heading", name="Analyses", exact=True)).to_be_visible()
    expect(report.locator("table").filter(has_text="shots").first).to_be_visible()
    shoot(report, "report")

    gpu = stack.api.get("/api/v1/gpus/")["results"][0]
    page.goto(f"{stack.base_url}/dashboard/")
    expect(page.locator(f'table#gpus tr[data-gpu-id="{gpu["id"]}"]')).to_contain_text(
        gpu["model"])
    row = page.locator(f'table#recent-jobs tr[data-job-id="{job_id}"]')
    expect(row.locator("td.cost")).to_have_text(MONEY)
    expect(page.locator("#savings")).to_contain_text(MONEY)
    # The job ran locally while the decision priced cloud offers for it: a saving.
    saved = float(MONEY.search(page.locator("#savings").inner_text())[0].split()[0]
                  .replace(",", ""))
    assert saved > 0, page.locator("#costs").inner_text()
    shoot(page, "dashboard")

    page.goto(f"{stack.base_url}/jobs/")
    expect(page.locator(f'table#jobs tr[data-job-id="{job_id}"]')).to_be_visible()
    shoot(page, "jobs")


def cut_first_patch(page: Page, offsets: list[int], kept: list[int]) -> None:
    """Let the first chunk's PATCH reach the server with half its bytes, then fail it
    as a dropped connection would (the server keeps what arrived); every other
    request of the upload API goes through untouched. ``offsets`` gathers each
    PATCH's Upload-Offset, ``kept`` how many bytes of the cut one the server got."""

    def handle(route: Route, request: Request) -> None:
        if request.method != "PATCH":
            route.continue_()
            return
        offsets.append(int(request.headers["upload-offset"]))
        if kept:
            route.continue_()
            return
        # An assertion here would only stall the page: the test checks ``kept``.
        body = request.post_data_buffer or b""
        if body:
            headers = {k: v for k, v in request.headers.items() if k != "content-length"}
            route.fetch(headers=headers, post_data=body[:len(body) // 2])
        kept.append(len(body) // 2)
        route.abort("connectionreset")

    page.route("**/api/v1/uploads/**", handle)


def raw_video(path: Path, frames: int) -> Path:
    """An uncompressed YUV4MPEG2 video of ``frames`` 720p frames (1.4 MB each)."""
    with path.open("wb") as out:
        for piece in video.pieces(0, video.size_for(frames)):
            out.write(piece)
    return path


def test_an_upload_cut_off_midway_resumes_and_stores_the_same_bytes(
        signed_in: Page, stack: Stack, shoot: Callable[[Page, str], Path], tmp_path: Path):
    page = signed_in
    media = raw_video(tmp_path / "raw.y4m", 15)  # 20.7 MB: several of the page's chunks
    digest = hashlib.sha256(media.read_bytes()).hexdigest()
    offsets: list[int] = []
    kept: list[int] = []
    cut_first_patch(page, offsets, kept)
    page.goto(f"{stack.base_url}/upload/")
    start_upload(page, media)
    wait_uploaded(page)
    expect(page.locator("#job-state")).not_to_be_empty()
    job_id = job_id_of(page)
    shoot(page, "resumed-and-created")

    # The chunk after the cut starts where the server stood: half a chunk in.
    assert kept and kept[0] > 0 and offsets[:2] == [0, kept[0]], (kept, offsets)
    job = stack.api.get(f"/api/v1/jobs/{job_id}/")
    assert job["media"]["sha256"] == digest
    assert job["media"]["size_bytes"] == media.stat().st_size
    try:  # its analysis is not what this test is about: leave the agent free
        stack.api.send("POST", f"/api/v1/jobs/{job_id}/cancel/")
    except ApiError as exc:
        assert exc.status == 409, exc  # finished already


def test_every_page_the_demo_names_answers(signed_in: Page, stack: Stack,
                                           shoot: Callable[[Page, str], Path], tmp_path: Path):
    """`bootstrap.py run` greets with these lines (devtools.demo.links): each opens,
    for the demo's login in the browser, or as the line says (the metrics from this
    machine without a login, the alerts with the API token)."""
    clip = samples.write_video(tmp_path / "demo clip.mp4")
    job = stack.api.wait(stack.api.submit(clip.path)["id"])
    assert job["state"] == "succeeded", job
    lines = demo.links(stack, job["id"])
    assert {label for label, _, _ in lines} >= {"Flower", "Dashboard", "Upload", "Metrics"}
    for label, url, how in lines:
        if label == "Alerts":
            assert "API token" in how
            request = signed_in.context.request
            answer = request.get(url, headers={"Authorization": f"Token {stack.api.token}"})
            assert answer.status == 200, (label, answer.status)
            continue
        response = signed_in.goto(url)
        assert response is not None and response.status == 200, (label, url)
        shoot(signed_in, label)
    metrics = signed_in.context.browser.new_context().request.get(f"{stack.base_url}/metrics")
    assert metrics.status == 200 and "aima_gpu_utilization" in metrics.text()
