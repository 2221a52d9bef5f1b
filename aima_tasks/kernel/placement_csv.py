"""Cloud price snapshots as CSV -> placement ``Offer`` records.

The format is the snapshot one (``shared/data/prices/*.csv``): provider,
instance_type, gpu_name, gpu_count, vram_gb_per_gpu, vcpus, memory_gb, region,
price_per_hour, spot_price_per_hour, plus optional columns named like the
``Offer`` fields (cuda_version, reliability, bandwidth_mbps, boot_s,
interruption_per_hour, offer_id, priced_at). An empty optional cell takes the
``Offer`` default. Pure: reads one file, touches no database; the control
plane's ``aima_offers`` command and the simulator both load prices here.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aima_tasks.kernel.numbers import whole_number
from aima_tasks.kernel.placement import Offer
from aima_tasks.kernel.placement.inputs import cuda_tuple

REQUIRED = ("provider", "instance_type", "gpu_name", "gpu_count", "vram_gb_per_gpu", "region",
            "price_per_hour", "spot_price_per_hour")
# Region may be empty (any region) and a spot price absent (none offered).
NON_EMPTY = frozenset(REQUIRED) - {"region", "spot_price_per_hour"}
OPTIONAL = ("cuda_version", "reliability", "bandwidth_mbps", "boot_s", "interruption_per_hour",
            "offer_id", "priced_at")
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Offer)}


class _Cell(ValueError):
    """One cell that does not parse; the loader adds file, line and column."""


def load_offers_csv(path: str | os.PathLike[str],
                    priced_at: datetime | None = None) -> list[Offer]:
    """Every row of one snapshot file as an ``Offer``, in file order.

    A row without ``priced_at`` is priced at ``priced_at`` or, without that,
    at the file's modification time. Raises ``ValueError`` naming the file,
    line and column of the first bad cell, or the missing column.
    """
    path = Path(path)
    default_time = _aware(priced_at) if priced_at else datetime.fromtimestamp(
        path.stat().st_mtime, tz=UTC)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            header = [name.strip() for name in reader.fieldnames or ()]
            missing = [name for name in REQUIRED if name not in header]
            if missing:
                raise ValueError(f"{path}: line 1: missing column {', '.join(missing)} "
                                 f"(a snapshot needs {', '.join(REQUIRED)})")
            reader.fieldnames = header
            # csv's line_num is the last physical line read: right for one-line rows.
            return [_offer(row, path, reader.line_num, default_time) for row in reader]
        except (csv.Error, UnicodeDecodeError) as exc:
            line = max(reader.line_num, 1)
            raise ValueError(f"{path}: line {line}: not CSV text: {exc}") from None


def _offer(row: dict[str, str | None], path: Path, line: int, default_time: datetime) -> Offer:
    def cell(column: str, parse: Callable[[str], Any], default: Any = None) -> Any:
        raw = (row.get(column) or "").strip()
        if not raw:
            if column in NON_EMPTY:
                raise ValueError(f"{path}: line {line}: column {column!r}: empty")
            return default
        try:
            return parse(raw)
        except (_Cell, ValueError) as exc:
            raise ValueError(f"{path}: line {line}: column {column!r}: {exc}") from None

    if None in row:
        raise ValueError(f"{path}: line {line}: more cells than the header has columns")
    return Offer(
        provider=cell("provider", str),
        instance_type=cell("instance_type", str),
        gpu_model=cell("gpu_name", str),
        gpu_count=cell("gpu_count", _count),
        vram_gb=cell("vram_gb_per_gpu", _positive),
        region=cell("region", str, _DEFAULTS["region"]),
        price_per_hour=cell("price_per_hour", _non_negative),
        spot_price_per_hour=cell("spot_price_per_hour", _non_negative),
        cuda_version=cell("cuda_version", _cuda, _DEFAULTS["cuda_version"]),
        reliability=cell("reliability", _share, _DEFAULTS["reliability"]),
        bandwidth_mbps=cell("bandwidth_mbps", _positive, _DEFAULTS["bandwidth_mbps"]),
        boot_s=cell("boot_s", _non_negative, _DEFAULTS["boot_s"]),
        interruption_per_hour=cell("interruption_per_hour", _non_negative),
        offer_id=cell("offer_id", str, _DEFAULTS["offer_id"]),
        priced_at=cell("priced_at", _timestamp, default_time),
    )


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _Cell(f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise _Cell(f"{raw!r} is not a finite number")
    return value


def _non_negative(raw: str) -> float:
    value = _number(raw)
    if value < 0:
        raise _Cell(f"{raw!r} is negative")
    return value


def _positive(raw: str) -> float:
    value = _number(raw)
    if value <= 0:
        raise _Cell(f"{raw!r} must be greater than 0")
    return value


def _share(raw: str) -> float:
    value = _number(raw)
    if not 0 <= value <= 1:
        raise _Cell(f"{raw!r} must be between 0 and 1")
    return value


def _count(raw: str) -> int:
    try:
        return whole_number(raw, least=1)
    except ValueError as problem:
        raise _Cell(f"{raw!r} {problem}") from None


def _cuda(raw: str) -> str:
    try:
        cuda_tuple(raw)
    except ValueError:
        raise _Cell(f"{raw!r} is not a CUDA version like 12.4") from None
    return raw


def _timestamp(raw: str) -> datetime:
    try:
        return _aware(datetime.fromisoformat(raw))
    except ValueError:
        raise _Cell(f"{raw!r} is not an ISO 8601 time like 2026-11-22T12:00:00Z") from None


def _aware(moment: datetime) -> datetime:
    # Snapshots are written by machines that speak UTC; a bare time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
