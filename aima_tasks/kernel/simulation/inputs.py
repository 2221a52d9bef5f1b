"""The simulator's inputs: a job trace (JSON Lines) and a fleet file (JSON).

Parsing only: each loader turns a file into frozen dataclasses or raises
``InputError`` whose message names the file, the line or entry, the field and
what to write instead.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aima_tasks.kernel.analyses import MediaType, catalogue
from aima_tasks.kernel.classification import Confidentiality, GpuStatus, Urgency
from aima_tasks.kernel.placement import JobSpec, LocalGpu, Policy, local_cost_per_hour
from aima_tasks.kernel.placement.inputs import cuda_tuple
from aima_tasks.kernel.schedule import ScheduleError, parse

DEFAULT_IDLE_GRACE_S = 60.0


class InputError(ValueError):
    """An input file that cannot be simulated; the message says where and what to fix."""


@dataclass(frozen=True, slots=True)
class TraceJob:
    job_id: str
    arrival_s: float  # POSIX seconds
    spec: JobSpec
    # Actual runtime / the engine's estimate: models estimates that are off.
    runtime_factor: float = 1.0
    # When the job must be finished (POSIX seconds), if the trace says.
    deadline_s: float | None = None


@dataclass(frozen=True)
class Fleet:
    gpus: tuple[LocalGpu, ...]
    policy: Policy
    idle_grace_s: float = DEFAULT_IDLE_GRACE_S
    # Provider -> most instances of any one of its offers running at once.
    cloud_capacity: Mapping[str, int] | None = None
    # The control plane's zone: availability windows are wall-clock times in it.
    timezone: tzinfo = UTC


# ---------------------------------------------------------------- trace

_MEDIA = {m.value for m in MediaType}
_CONFIDENTIALITY = {c.value for c in Confidentiality}
_URGENCY = {u.value for u in Urgency}
_TRACE_FIELDS = frozenset({"id", "arrival", "media_type", "size_bytes", "duration_s", "analyses",
                           "confidentiality", "urgency", "priority", "region", "groups",
                           "runtime_factor", "deadline", "deadline_s"})


def load_trace(path: str | os.PathLike[str]) -> list[TraceJob]:
    """Every job of a JSON Lines trace, sorted by arrival (stable for equal times)."""
    path = Path(path)
    jobs: list[TraceJob] = []
    seen: dict[str, int] = {}
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"trace {path}: cannot read it ({exc.strerror or exc})") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: not a JSON object ({exc.msg}); write one job "
                                 f"object per line") from None
            job = _trace_job(record, where)
            if job.job_id in seen:
                raise InputError(f"{where}: field 'id': {job.job_id!r} is already the id of "
                                 f"line {seen[job.job_id]}; ids must be unique")
            seen[job.job_id] = number
            jobs.append(job)
    if not jobs:
        raise InputError(f"trace {path}: no jobs; write one JSON object per line")
    jobs.sort(key=lambda job: job.arrival_s)
    return jobs


def _known_fields(data: object, where: str, known: frozenset[str] | set[str],
                  not_object: str) -> dict:
    """``data`` as a JSON object holding only ``known`` fields; else an error naming them."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: {not_object}")
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{where}: unknown field {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(sorted(known))}")
    return data


def _trace_job(record: object, where: str) -> TraceJob:
    record = _known_fields(record, where, _TRACE_FIELDS,
                           "not a JSON object; write one job object per line")

    def bad(name: str, what: str) -> InputError:
        return InputError(f"{where}: field {name!r}: {what}")

    def required(name: str) -> Any:
        if name not in record or record[name] is None:
            raise bad(name, "missing")
        return record[name]

    job_id = required("id")
    if not isinstance(job_id, str | int) or isinstance(job_id, bool) or str(job_id) == "":
        raise bad("id", "must be a non-empty string or a number")
    arrival = _arrival(required("arrival"), lambda what: bad("arrival", what))
    media = required("media_type")
    if media not in _MEDIA:
        raise bad("media_type", f"{media!r} is not one of {', '.join(sorted(_MEDIA))}")
    media_type = MediaType(media)
    size = required("size_bytes")
    if not _is_int(size) or size < 0:
        raise bad("size_bytes", f"{size!r} is not a whole number of bytes >= 0")

    duration: float | None = None
    if media_type != MediaType.IMAGE:
        duration = _number(required("duration_s"), lambda what: bad("duration_s", what),
                           positive=True)
    elif record.get("duration_s") is not None:
        duration = _number(record["duration_s"], lambda what: bad("duration_s", what))

    analyses = _analyses(record.get("analyses"), media_type, lambda what: bad("analyses", what))
    confidentiality = record.get("confidentiality", Confidentiality.INTERNAL.value)
    if confidentiality not in _CONFIDENTIALITY:
        raise bad("confidentiality",
                  f"{confidentiality!r} is not one of {', '.join(sorted(_CONFIDENTIALITY))}")
    urgency = record.get("urgency", Urgency.NORMAL.value)
    if urgency not in _URGENCY:
        raise bad("urgency", f"{urgency!r} is not one of {', '.join(sorted(_URGENCY))}")
    priority = record.get("priority", 0)
    if not _is_int(priority):
        raise bad("priority", f"{priority!r} is not a whole number")
    region = record.get("region")
    if region is not None and (not isinstance(region, str) or not region.strip()):
        raise bad("region", f"{region!r} is not a region prefix like \"EU\"")
    groups = _strings(record.get("groups", []), lambda what: bad("groups", what))
    factor = _number(record.get("runtime_factor", 1.0),
                     lambda what: bad("runtime_factor", what), positive=True)

    deadline = _deadline(record, arrival, bad)
    needs = catalogue().needs(analyses)
    spec = JobSpec(media_type=media_type, size_bytes=size, analyses=analyses,
                   confidentiality=Confidentiality(confidentiality), urgency=Urgency(urgency),
                   priority=priority, duration_s=duration,
                   region=region.strip() if region else None, groups=frozenset(groups),
                   analyses_vram_gb=needs.vram_gb, min_cuda=needs.min_cuda)
    return TraceJob(job_id=str(job_id), arrival_s=arrival, spec=spec, runtime_factor=factor,
                    deadline_s=deadline)


def _deadline(record: dict, arrival: float, bad: Callable[[str, str], InputError]) -> float | None:
    """``deadline`` (an ISO time) or ``deadline_s`` (seconds after arrival), not both."""
    if record.get("deadline") is not None and record.get("deadline_s") is not None:
        raise bad("deadline", "give either 'deadline' or 'deadline_s', not both")
    if record.get("deadline") is not None:
        deadline = _arrival(record["deadline"], lambda what: bad("deadline", what))
        if deadline <= arrival:
            raise bad("deadline", "must be after the arrival")
        return deadline
    if record.get("deadline_s") is not None:
        return arrival + _number(record["deadline_s"], lambda what: bad("deadline_s", what),
                                 positive=True)
    return None


def _arrival(value: object, bad: Callable[[str], InputError]) -> float:
    if not isinstance(value, str):
        raise bad(f"{value!r} is not an ISO 8601 time like \"2026-11-23T09:30:00Z\"")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad(f"{value!r} is not an ISO 8601 time like \"2026-11-23T09:30:00Z\"") from None
    if moment.tzinfo is None:
        raise bad(f"{value!r} has no time zone; end it with Z for UTC")
    return moment.timestamp()


def _analyses(value: object, media_type: MediaType,
              bad: Callable[[str], InputError]) -> tuple[str, ...]:
    known = catalogue()
    usable = known.applicable(media_type, has_audio=True)
    if value is None:
        return tuple(usable)
    names = _strings(value, bad)
    if not names:
        raise bad("is empty; leave it out to run every applicable analysis")
    for name in names:
        if name not in known.specs:
            raise bad(f"unknown analysis {name!r}; choose from {', '.join(sorted(known.specs))}")
        if name not in usable:
            raise bad(f"{name!r} does not apply to {media_type}; choose from {', '.join(usable)}")
    return tuple(dict.fromkeys(names))


# ---------------------------------------------------------------- fleet

_FLEET_FIELDS = frozenset({"gpus", "energy_price_per_kwh", "policy", "idle_grace_s",
                           "cloud_capacity", "timezone"})
_GPU_FIELDS = frozenset({"id", "model", "vram_gb", "cuda_version", "host", "status",
                         "access_groups", "availability_schedule", "power_watts",
                         "purchase_price", "lifetime_hours", "profile"})
_STATUS = {s.value for s in GpuStatus}


def load_fleet(path: str | os.PathLike[str], idle_grace_s: float | None = None) -> Fleet:
    """The local fleet, policy and cloud limits; ``idle_grace_s`` overrides the file's."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"fleet {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    return fleet_from_dict(data, str(path), idle_grace_s)


def fleet_from_dict(data: object, where: str = "fleet",
                    idle_grace_s: float | None = None) -> Fleet:
    data = _known_fields(data, where, _FLEET_FIELDS, "must be a JSON object with a \"gpus\" list")

    def bad(name: str) -> Callable[[str], InputError]:
        return lambda what: InputError(f"{where}: field {name!r}: {what}")

    energy = _number(data.get("energy_price_per_kwh", 0.0), bad("energy_price_per_kwh"))
    gpus_data = data.get("gpus", [])
    if not isinstance(gpus_data, list):
        raise bad("gpus")("must be a list of GPU objects")
    gpus = tuple(_gpu(entry, f"{where}: gpus[{i}]", energy) for i, entry in enumerate(gpus_data))
    ids = [gpu.gpu_id for gpu in gpus]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise bad("gpus")(f"GPU id {duplicates[0]} appears more than once; ids must be unique")

    grace = idle_grace_s if idle_grace_s is not None else data.get(
        "idle_grace_s", DEFAULT_IDLE_GRACE_S)
    grace = _number(grace, bad("idle_grace_s"))
    capacity_data = data.get("cloud_capacity") or {}
    if not isinstance(capacity_data, dict):
        raise bad("cloud_capacity")("must map provider names to instance counts, "
                                    "e.g. {\"aws\": 4}")
    capacity: dict[str, int] = {}
    for provider, count in capacity_data.items():
        if not _is_int(count) or count < 1:
            raise bad("cloud_capacity")(f"{provider!r}: {count!r} is not a whole number >= 1")
        capacity[provider] = count
    zone_name = data.get("timezone", "UTC")
    try:
        zone: tzinfo = UTC if zone_name == "UTC" else ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise bad("timezone")(f"{zone_name!r} is not an IANA time zone like "
                              f"\"Europe/Berlin\"") from None
    policy = policy_from_dict(data.get("policy") or {}, f"{where}: policy")
    return Fleet(gpus=gpus, policy=policy, idle_grace_s=grace, cloud_capacity=capacity,
                 timezone=zone)


def _gpu(entry: object, where: str, energy_price: float) -> LocalGpu:
    entry = _known_fields(entry, where, _GPU_FIELDS, "must be a JSON object")

    def bad(name: str) -> Callable[[str], InputError]:
        return lambda what: InputError(f"{where}: field {name!r}: {what}")

    def required(name: str) -> Any:
        if entry.get(name) is None:
            raise bad(name)("missing")
        return entry[name]

    gpu_id = required("id")
    if not _is_int(gpu_id):
        raise bad("id")(f"{gpu_id!r} is not a whole number")
    model = required("model")
    if not isinstance(model, str) or not model.strip():
        raise bad("model")("must name the GPU model, e.g. \"NVIDIA GeForce RTX 4090\"")
    vram = _number(required("vram_gb"), bad("vram_gb"), positive=True)
    cuda = required("cuda_version")
    try:
        cuda_tuple(str(cuda))
    except ValueError:
        raise bad("cuda_version")(f"{cuda!r} is not a CUDA version like \"12.4\"") from None
    status = entry.get("status", GpuStatus.AVAILABLE.value)
    if status not in _STATUS:
        raise bad("status")(f"{status!r} is not one of {', '.join(sorted(_STATUS))}")
    try:
        schedule = parse(str(entry.get("availability_schedule") or "24/7"))
    except ScheduleError as exc:
        raise bad("availability_schedule")(str(exc)) from None
    profile_data = entry.get("profile") or {}
    if not isinstance(profile_data, dict):
        raise bad("profile")("must map analysis names to seconds per work unit")
    profile: dict[str, float] = {}
    for name, seconds in profile_data.items():
        if name not in catalogue().specs:
            raise bad("profile")(f"unknown analysis {name!r}")
        profile[name] = _number(seconds, bad("profile"), positive=True)
    cost = local_cost_per_hour(
        _number(entry.get("power_watts", 0.0), bad("power_watts")), energy_price,
        _number(entry.get("purchase_price", 0.0), bad("purchase_price")),
        _number(entry.get("lifetime_hours", 0.0), bad("lifetime_hours")))
    host = entry.get("host", "")
    return LocalGpu(gpu_id=gpu_id, model=model, vram_gb=vram, cuda_version=str(cuda),
                    host=str(host), status=GpuStatus(status),
                    access_groups=frozenset(_strings(entry.get("access_groups", []),
                                                     bad("access_groups"))),
                    schedule=schedule, cost_per_hour=cost, profile=profile)


# ---------------------------------------------------------------- policy

_POSITIVE_POLICY_FIELDS = frozenset({"upload_mbps"})

def policy_from_dict(data: object, where: str = "policy") -> Policy:
    """A ``Policy`` with the given fields overridden, each checked against its type."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: must be a JSON object of Policy fields")
    known = {f.name: str(f.type) for f in fields(Policy)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            raise InputError(f"{where}: unknown field {name!r}; known: "
                             f"{', '.join(sorted(n for n in known if n != 'strategy'))}")
        values[name] = policy_value(name, known[name], value, where)
    return Policy(**values)


def policy_value(name: str, annotation: str, value: object, where: str = "policy") -> Any:
    """One policy field's JSON value as the type ``Policy`` declares for it."""
    def bad(what: str) -> InputError:
        return InputError(f"{where}: field {name!r}: {what}")

    if annotation == "Strategy":
        # Every strategy is replayed against the same policy; the command line picks them.
        raise bad("choose strategies with --strategy, not in the fleet file")
    optional = annotation.endswith(" | None")
    base = annotation.removesuffix(" | None")
    if value is None:
        if optional:
            return None
        raise bad("must not be null")
    if base == "float":
        # A zero bandwidth would make every upload take forever (and divide by zero).
        return _number(value, bad, positive=name in _POSITIVE_POLICY_FIELDS)
    if base == "int":
        if not _is_int(value) or value < 0:
            raise bad(f"{value!r} is not a whole number >= 0")
        return value
    if base == "str":
        if not isinstance(value, str) or not value.strip():
            raise bad(f"{value!r} is not a name")
        return value.strip()
    if base == "tuple[str, ...]":
        return tuple(_strings(value, bad))
    if base == "frozenset[str]":
        return frozenset(_strings(value, bad))
    if base == "frozenset[Urgency]":
        names = _strings(value, bad)
        wrong = [n for n in names if n not in _URGENCY]
        if wrong:
            raise bad(f"{wrong[0]!r} is not one of {', '.join(sorted(_URGENCY))}")
        return frozenset(Urgency(n) for n in names)
    raise bad(f"the simulator cannot set a field of type {annotation}")


# ---------------------------------------------------------------- values

def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object, bad: Callable[[str], InputError], positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"{value!r} is not a number")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise bad(f"{value!r} must be a finite number {'> 0' if positive else '>= 0'}")
    return number


def _strings(value: object, bad: Callable[[str], InputError]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad(f"{value!r} is not a list of names")
    return list(value)
