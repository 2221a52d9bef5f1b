"""Write a synthetic job trace for the what-if simulator (``aima_simulate``).

    .venv/bin/python bench/make_trace.py --jobs 100000 --out /tmp/trace.jsonl

Seeded, so one seed gives one file. Arrivals follow a weekly pattern:
office hours (a morning and an afternoon peak, quiet nights; ``HOUR_WEIGHTS``)
on weekdays, a third of that on Saturdays and Sundays (``WEEKDAY_WEIGHTS``),
and one job in five comes in an archive ingest: a burst of up to 45 long
videos within minutes, placed by the same pattern.
The media mix is half images, three tenths video, a fifth audio, with sizes
from typical bitrates and a few large raw videos (tens of GB);
confidentiality, urgency, residency, groups and estimate error vary as the
fields of the trace format allow. Every job but an urgent one states a
deadline (``deadline_s``, seconds after arrival): 72 hours for low urgency,
24 hours for normal (``DEADLINE_S``), a week for an archive ingest's videos
(``ARCHIVE_DEADLINE_S``: a bulk backlog, the work off-peak batching is for);
an urgent job has none, as it is never deferred. Deadlines use no random
draw, so ``--no-deadlines`` gives the same jobs without them.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Share of a day's arrivals by hour of day (UTC): office hours with two peaks.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 6, 10, 12, 12, 10, 7, 9, 11, 11, 9, 7, 5, 4, 3, 2, 2, 1)
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.9, 0.35, 0.3)
ARCHIVE_SHARE = 0.2
MEDIA = (("image", 0.5), ("video", 0.3), ("audio", 0.2))
CONFIDENTIALITY = (("public", 0.3), ("internal", 0.55), ("confidential", 0.15))
URGENCY = (("low", 0.2), ("normal", 0.7), ("high", 0.1))
LARGE_VIDEO_SHARE = 0.04
DEADLINE_S = {"low": 72 * 3600, "normal": 24 * 3600}
ARCHIVE_DEADLINE_S = 7 * 24 * 3600
SUBSETS = {
    "image": ("phash", "colours"),
    "video": ("shots", "loudness", "silence"),
    "audio": ("loudness", "silence"),
}


def pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    names, weights = zip(*table, strict=True)
    return rng.choices(names, weights)[0]


def lognormal(rng: random.Random, median: float, sigma: float, low: float, high: float) -> float:
    return min(max(median * math.exp(rng.gauss(0.0, sigma)), low), high)


def arrival_times(rng: random.Random, count: int, start: datetime, days: int) -> list[datetime]:
    day_weights = [WEEKDAY_WEIGHTS[(start + timedelta(days=d)).weekday()] for d in range(days)]
    day_picks = rng.choices(range(days), day_weights, k=count)
    hour_picks = rng.choices(range(24), HOUR_WEIGHTS, k=count)
    return [start + timedelta(days=d, hours=h, seconds=rng.uniform(0, 3600))
            for d, h in zip(day_picks, hour_picks, strict=True)]


def media_fields(rng: random.Random, media: str) -> dict:
    if media == "image":
        return {"size_bytes": int(lognormal(rng, 3e6, 0.8, 5e4, 6e7))}
    if media == "audio":
        duration = lognormal(rng, 600, 0.9, 10, 3 * 3600)
        kbps = rng.choice((128, 192, 320, 1411))
        return {"duration_s": round(duration, 1), "size_bytes": int(duration * kbps * 125)}
    if rng.random() < LARGE_VIDEO_SHARE:
        # Raw camera or mezzanine files: the uploads the large-media rule is about.
        duration = rng.uniform(1800, 7200)
        mbps = rng.uniform(60, 150)
    else:
        duration = lognormal(rng, 240, 1.0, 5, 4 * 3600)
        mbps = rng.choice((2.5, 5, 8, 16, 25))
    return {"duration_s": round(duration, 1), "size_bytes": int(duration * mbps * 125_000)}


def job(rng: random.Random, number: int, arrival: datetime, media: str | None = None) -> dict:
    media = media or pick(rng, MEDIA)
    record: dict = {"id": f"job-{number:06d}",
                    "arrival": arrival.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "media_type": media, **media_fields(rng, media)}
    if rng.random() < 0.25:
        choices = SUBSETS[media]
        record["analyses"] = rng.sample(choices, rng.randint(1, len(choices)))
    record["confidentiality"] = pick(rng, CONFIDENTIALITY)
    urgency = pick(rng, URGENCY)
    record["urgency"] = urgency
    priority = 10 if urgency == "high" else rng.choice((0, 0, 0, 1, 2))
    if priority:
        record["priority"] = priority
    if rng.random() < 0.12:
        record["region"] = "EU"
    roll = rng.random()
    if roll < 0.05:
        record["groups"] = ["research", "media"]
    elif roll < 0.25:
        record["groups"] = ["research"]
    if rng.random() < 0.6:
        record["runtime_factor"] = round(lognormal(rng, 1.0, 0.2, 0.5, 2.0), 3)
    return record


def archive_burst(rng: random.Random, first: int, size: int, arrival: datetime) -> list[dict]:
    """An archive ingest: long internal videos, low urgency, seconds apart."""
    burst = []
    for offset in range(size):
        duration = rng.uniform(1800, 9000)
        arrival += timedelta(seconds=rng.uniform(5, 30))
        burst.append({
            "id": f"job-{first + offset:06d}",
            "arrival": arrival.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "media_type": "video", "duration_s": round(duration, 1),
            "size_bytes": int(duration * 8 * 125_000),
            "confidentiality": "internal", "urgency": "low", "groups": ["media"],
            "deadline_s": ARCHIVE_DEADLINE_S,
        })
    return burst


def make_trace(jobs: int, seed: int, start: datetime, per_day: float,
               deadlines: bool = True) -> list[dict]:
    rng = random.Random(seed)
    days = max(1, math.ceil(jobs / per_day))
    archive = int(jobs * ARCHIVE_SHARE)
    singles = jobs - archive
    records = [job(rng, n, t) for n, t in
               enumerate(sorted(arrival_times(rng, singles, start, days)), start=1)]
    number = singles + 1
    while archive > 0:
        size = min(archive, rng.randint(15, 45))
        burst_start = arrival_times(rng, 1, start, days)[0]
        records += archive_burst(rng, number, size, burst_start)
        number += size
        archive -= size
    records.sort(key=lambda r: (r["arrival"], r["id"]))
    for record in records:
        if not deadlines:
            record.pop("deadline_s", None)
        elif record["urgency"] in DEADLINE_S:
            record.setdefault("deadline_s", DEADLINE_S[record["urgency"]])
    return records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="number of jobs (default 200)")
    parser.add_argument("--out", type=Path, required=True, help="the .jsonl file to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--start", default="2026-11-23T00:00:00Z",
                        help="first day, ISO 8601 (default 2026-11-23T00:00:00Z, a Monday)")
    parser.add_argument("--per-day", type=float, default=70.0,
                        help="mean jobs per day; the trace spans jobs/per-day days (default 70)")
    parser.add_argument("--no-deadlines", action="store_true",
                        help="leave out the per-urgency deadline_s field")
    args = parser.parse_args()
    if args.jobs < 1 or args.per_day <= 0:
        parser.error("--jobs and --per-day must be positive")
    start = datetime.fromisoformat(args.start)
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    records = make_trace(args.jobs, args.seed, start.astimezone(UTC), args.per_day,
                         not args.no_deadlines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
    print(f"{len(records)} jobs from {records[0]['arrival']} to {records[-1]['arrival']} "
          f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
