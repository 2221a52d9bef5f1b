"""``manage.py aima_offers load FILE.csv …`` stores a cloud price snapshot for
placement; ``manage.py aima_offers list`` shows what is stored."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from aima_tasks.kernel.placement import Offer
from aima_tasks.kernel.placement_csv import load_offers_csv
from aima_web.audit import trail
from aima_web.placement import services
from aima_web.placement.models import CloudOffer, PlacementPolicy, ProviderRefresh

COLUMNS = ("provider", "instance type", "GPU", "n", "VRAM", "region", "$/h", "spot $/h",
           "reliab.", "age")


class Command(BaseCommand):
    help = "Load cloud price snapshots (CSV) for placement, or list the stored offers."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True,
                                        metavar="{load,refresh,list}")
        load = actions.add_parser(
            "load", help="store the offers of snapshot CSV files, all of them or none",
            description="Columns: provider, instance_type, gpu_name, gpu_count, "
                        "vram_gb_per_gpu, vcpus, memory_gb, region, price_per_hour, "
                        "spot_price_per_hour; optional: cuda_version, reliability, "
                        "bandwidth_mbps, boot_s, interruption_per_hour, offer_id, priced_at.")
        load.add_argument("files", nargs="+", metavar="FILE.csv")
        load.add_argument("--replace", action="store_true",
                          help="drop every stored offer first (default: an offer replaces the "
                               "stored one of the same key, others stay)")
        load.add_argument("--priced-at", metavar="ISO|now",
                          help="when rows without a priced_at column were priced: an ISO 8601 "
                               "time (UTC without an offset) or 'now'; default: each file's "
                               "modification time")
        actions.add_parser(
            "refresh", help="fetch live offers from every enabled provider (AIMA_PROVIDERS) "
                            "in place of their stored ones")
        listing = actions.add_parser("list", help="print the stored offers as a table")
        listing.add_argument("--min-vram", type=float, default=0.0, metavar="GB",
                             help="only offers with at least this much VRAM per GPU")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "load":
            self.load(options["files"], options["replace"], options["priced_at"])
        elif action == "refresh":
            self.refresh()
        else:
            self.show(options["min_vram"])

    def refresh(self) -> None:
        from aima_web.instances.offers import refresh_offers
        from aima_web.instances.registry import providers

        registry = providers()
        for name, problem in registry.broken.items():
            self.stderr.write(f"{name}: not loaded: {problem}")
        failures = refresh_offers()
        for name, problem in failures.items():
            self.stderr.write(f"{name}: offers not refreshed: {problem}")
            status = ProviderRefresh.objects.filter(provider=name).first()
            if status is not None and status.last_success_at is not None:
                self.stderr.write(f"{name}: placement keeps deciding from its {status.status()}")
        counts = {name: CloudOffer.objects.filter(provider=name).count()
                  for name in registry.providers if name not in failures}
        self.stdout.write("refreshed: " + (", ".join(f"{n} {c} offer(s)"
                                                     for n, c in counts.items()) or "nothing"))
        if failures or not counts:
            raise CommandError("some providers gave no offers (see above)")

    def load(self, files: list[str], replace: bool, priced_at_text: str | None) -> None:
        priced_at = parse_priced_at(priced_at_text) if priced_at_text else None
        offers: list[Offer] = []
        for path in files:
            try:
                offers.extend(load_offers_csv(path, priced_at))
            except (OSError, ValueError) as exc:
                raise CommandError(f"nothing loaded: {exc}") from None
        result = services.store_offers(offers, replace=replace)
        trail.record(trail.SYSTEM, "offers.loaded", "cloud-offers", files=files,
                     stored=result.stored, replaced=result.replaced, removed=result.removed)
        self.stdout.write(
            f"stored {result.stored} offers from {len(files)} file(s); replaced "
            f"{result.replaced}, removed {result.removed}"
            + (f"; {result.duplicates} rows repeated a key (the later row counts)"
               if result.duplicates else ""))
        max_age = PlacementPolicy.current().max_price_age_s
        now = timezone.now()
        stale = sum(1 for o in offers if (now - o.priced_at).total_seconds() > max_age)
        if stale:
            self.stderr.write(
                f"warning: {stale} of them were priced more than {max_age / 3600:g} h ago (the "
                f"policy's max price age), so placement ignores them; load with --priced-at now "
                f"if these prices still hold")

    def show(self, min_vram: float) -> None:
        rows = CloudOffer.objects.filter(vram_gb__gte=min_vram)
        now = timezone.now()
        table = [COLUMNS] + [(
            o.provider, o.instance_type, o.gpu_model, str(o.gpu_count), f"{o.vram_gb:g}",
            o.region or "-", f"{o.price_per_hour:.3f}",
            "-" if o.spot_price_per_hour is None else f"{o.spot_price_per_hour:.3f}",
            f"{o.reliability:.2f}", age(now, o.priced_at)) for o in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
        for row in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(
                row, widths, strict=True)).rstrip())
        self.stdout.write(f"{len(table) - 1} offer(s)")


def parse_priced_at(text: str) -> datetime:
    if text.strip().lower() == "now":
        return timezone.now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--priced-at {text!r}: write an ISO 8601 time like "
                           "2026-11-22T12:00:00Z, or now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(now: datetime, then: datetime) -> str:
    seconds = max((now - then).total_seconds(), 0.0)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"
