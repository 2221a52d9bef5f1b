"""Time of one placement decision over a large offer book and local fleet.

Builds a seeded book of cloud offers (default 10,000, drawn around the GPU
models and prices of the committed price snapshot) and a fleet of local GPUs
(default 200), then times ``decide`` for a mix of jobs under every strategy
and prints the median and p95 per strategy (goal: median <= 2 ms):

    .venv/bin/python bench/placement_decision.py [--offers N] [--gpus N] [--jobs N]

Building the offer book is timed separately: it happens once per price
refresh, not per decision.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aima_tasks.kernel.analyses import MediaType, catalogue
from aima_tasks.kernel.classification import Confidentiality, GpuStatus, Urgency
from aima_tasks.kernel.placement import (
    FleetState,
    JobSpec,
    LocalGpu,
    Offer,
    OfferBook,
    Policy,
    Strategy,
    decide,
)
from aima_tasks.kernel.schedule import parse

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
# (model, VRAM GB, typical on-demand $/h) as in ../shared/data/prices.
CARDS = [("RTX 3060", 12, 0.15), ("RTX 4080", 16, 0.24), ("V100", 16, 0.20),
         ("RTX 3090", 24, 0.25), ("RTX 4090", 24, 0.40), ("RTX A5000", 24, 0.23),
         ("A10G", 24, 1.006), ("L4", 24, 0.80), ("RTX 5090", 32, 0.53), ("A100", 40, 1.20),
         ("A40", 45, 0.40), ("L40S", 45, 0.67), ("RTX A6000", 48, 0.48),
         ("RTX 6000 Ada", 48, 0.66), ("A100-80GB", 80, 1.64), ("H100", 80, 1.80),
         ("H200", 141, 2.47)]
PROVIDERS = ["vastai", "runpod", "aws", "lambda"]
REGIONS = ["EU-DE", "EU-FR", "EU-NL", "NA-US", "NA-CA", "us-east-1", "eu-west-1", "AS-JP"]


def offer_book(count: int, rng: random.Random) -> list[Offer]:
    offers = []
    for i in range(count):
        model, vram, price = rng.choice(CARDS)
        gpus = rng.choice((1, 1, 1, 2, 4))
        hourly = round(price * gpus * rng.uniform(0.7, 1.6), 3)
        offers.append(Offer(
            provider=rng.choice(PROVIDERS), instance_type=f"{gpus}x-{model}", gpu_model=model,
            gpu_count=gpus, vram_gb=vram, price_per_hour=hourly,
            spot_price_per_hour=round(hourly * rng.uniform(0.3, 0.8), 3)
            if rng.random() < 0.5 else None,
            region=rng.choice(REGIONS), cuda_version=rng.choice(("11.8", "12.2", "12.4")),
            reliability=rng.uniform(0.85, 1.0), bandwidth_mbps=rng.uniform(100, 5000),
            boot_s=rng.uniform(60, 600), priced_at=NOW - timedelta(minutes=rng.uniform(0, 400)),
            offer_id=f"offer-{i}"))
    return offers


def fleet(count: int, rng: random.Random) -> FleetState:
    schedules = [parse("24/7"), parse("Mon-Fri 18:00-08:00"), parse("Sat,Sun 00:00-24:00")]
    gpus = []
    for i in range(count):
        model, vram, price = rng.choice(CARDS[:14])
        gpus.append(LocalGpu(
            gpu_id=i + 1, model=model, vram_gb=vram, cuda_version="12.4", host=f"host{i // 4}",
            status=rng.choice([GpuStatus.AVAILABLE] * 8 + [GpuStatus.BUSY, GpuStatus.OFFLINE]),
            access_groups=frozenset({"forensics"}) if rng.random() < 0.1 else frozenset(),
            schedule=rng.choice(schedules), cost_per_hour=price * rng.uniform(0.3, 1.5),
            backlog_s=rng.uniform(0, 4 * 3600)))
    return FleetState(gpus=tuple(gpus), now=NOW)


def job_mix(count: int, rng: random.Random) -> list[JobSpec]:
    jobs = []
    for _ in range(count):
        media_type = rng.choice(list(MediaType))
        analyses = tuple(catalogue().applicable(media_type, has_audio=True))
        needs = catalogue().needs(analyses)
        jobs.append(JobSpec(
            media_type=media_type, size_bytes=int(rng.uniform(1e6, 3e10)), analyses=analyses,
            analyses_vram_gb=needs.vram_gb, min_cuda=needs.min_cuda,
            confidentiality=rng.choice(list(Confidentiality)),
            urgency=rng.choice(list(Urgency)),
            duration_s=rng.uniform(10, 7200) if media_type != MediaType.IMAGE else None,
            region=rng.choice([None, None, "EU"])))
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--gpus", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=500, help="decisions timed per strategy")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    offers = offer_book(args.offers, rng)
    builds = []
    for _ in range(5):
        started = time.perf_counter()
        book = OfferBook.build(offers)
        builds.append(time.perf_counter() - started)
    state = fleet(args.gpus, rng)
    jobs = job_mix(args.jobs, rng)
    print(f"{len(book)} offers, {len(state.gpus)} local GPUs, {len(jobs)} jobs per strategy")
    print(f"offer book build: median {statistics.median(builds) * 1000:.1f} ms")
    print(f"{'strategy':<20}{'median ms':>10}{'p95 ms':>10}{'placed':>8}{'cloud':>7}")
    for strategy in Strategy:
        policy = Policy(strategy=strategy, provider_order=("local", "runpod", "vastai"))
        for spec in jobs[:20]:  # warm caches, as a running control worker has them
            decide(spec, state, book, policy)
        times, placed, cloud = [], 0, 0
        for spec in jobs:
            started = time.perf_counter()
            decision = decide(spec, state, book, policy)
            times.append(time.perf_counter() - started)
            placed += decision.placed
            cloud += decision.scope == "cloud"
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(f"{strategy.value:<20}{statistics.median(times) * 1000:>10.3f}"
              f"{p95 * 1000:>10.3f}{placed:>8}{cloud:>7}")


if __name__ == "__main__":
    main()
