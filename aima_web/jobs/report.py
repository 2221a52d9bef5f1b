"""The per-job analysis report: the job, its media and its results gathered into
plain JSON-ready sections, and the HTML page that draws them.

``build_report`` reads whatever exists, so a job still running reports the
analyses finished so far. Result rows written by older agents may lack any key;
a missing or malformed value leaves its field empty rather than failing the page.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.utils.html import escape
from rest_framework.renderers import TemplateHTMLRenderer

from aima_tasks.kernel.analyses import Section, Slot, catalogue, dialogue
from aima_tasks.kernel.analyses.facts import Fact
from aima_tasks.kernel.analyses.sections import by_time, dicts, empty, num, speech_map
from aima_web.instances.preemption import rework
from aima_web.jobs import progress, report_frames, report_vision
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset
from aima_web.jobs.states import TERMINAL

log = logging.getLogger(__name__)
T = TypeVar("T")

# The timeline's lanes, in the order the report lists them.
TIMELINE = (Slot.TRACKS, Slot.DETECTIONS, Slot.SHOTS)
# What the vision sections (faces, text on screen, people, keyframes) are made of.
VISION = (Slot.TRACKS, Slot.FACES, Slot.TEXT, Slot.DETECTIONS)


def build_report(job: Job) -> dict[str, Any]:
    results = list(job.results.select_related("agent").order_by("started_at", "analysis"))
    data = {r.analysis: r.data if isinstance(r.data, dict) else {} for r in results}
    # The sections each finished analysis declares; the others' data is shown untouched.
    shown = _declared(data)
    media = _media(job.media)
    duration = _duration(media, data, shown)
    filled = _filled(data, shown)
    speech_source, heard = filled.get(Slot.SPEECH, (None, None))
    transcript = _slot(filled, Slot.TRANSCRIPT)
    speakers = _speakers(_slot(filled, Slot.SPEAKERS))
    return {
        "job": _job(job, done={r.analysis for r in results}),
        "media": media,
        "timeline": {"duration_s": duration,
                     **{slot.value: _slot(filled, slot) for slot in TIMELINE}},
        "transcript": transcript,
        "dialogue": _guarded("dialogue", lambda t: dialogue.lines(t, speakers), transcript, []),
        "speakers": speakers,
        "sound_events": _slot(filled, Slot.EVENTS),
        **report_vision.sections(*(_slot(filled, s) for s in VISION),
                                 picture=media["media_type"] == "image"),
        "speech_map": speech_map(heard, duration),
        "speech_map_source": speech_source,
        "analyses": [_analysis(r) for r in results],
        "summary": {name: {k: v for k, v in data[name].items()
                           if k not in {key for section in sections for key in section.keys}}
                    for name, sections in shown.items()},
        "results": {r.analysis: r.data for r in results if r.analysis not in shown},
    }


def _declared(data: dict[str, dict[str, Any]]) -> dict[str, tuple[Section, ...]]:
    """The analyses with sections, in the order of the report's slots."""
    specs = catalogue().specs
    shown = [name for name in data if name in specs and specs[name].sections]
    slots = list(Slot)
    shown.sort(key=lambda name: min((slots.index(s.slot), s.rank) for s in specs[name].sections))
    return {name: specs[name].sections for name in shown}


def _filled(data: dict[str, dict[str, Any]], shown: dict[str, tuple[Section, ...]],
            ) -> dict[Slot, tuple[str, Any]]:
    """Per slot, the analysis that fills it and what it fills it with: where several
    could, the one whose section ranks first (voice activity before quiet)."""
    order = list(catalogue().specs)
    chosen: dict[Slot, tuple[int, int, str, Section]] = {}
    for name, sections in shown.items():
        for section in sections:
            candidate = (section.rank, order.index(name), name, section)
            if section.slot not in chosen or candidate[:2] < chosen[section.slot][:2]:
                chosen[section.slot] = candidate
    return {slot: (name, _guarded(name, section.build, data[name], empty(slot)))
            for slot, (_, _, name, section) in chosen.items()}


def _guarded(analysis: str, build: Callable[[Any], T], data: Any, fallback: T) -> T:
    """What a spec's section or facts function makes of a result; where a plugin's
    function fails on a result it did not expect, its part of the page stays empty
    (and the error is logged) rather than the whole report failing."""
    try:
        return build(data)
    except Exception:
        log.exception("the report part of analysis %s failed", analysis)
        return fallback


def _slot(filled: dict[Slot, tuple[str, Any]], slot: Slot) -> Any:
    return filled[slot][1] if slot in filled else empty(slot)


def _speakers(found: Any) -> dict[str, list[dict[str, Any]]]:
    """Who spoke when, only the fields the report shows: a voice's centroid is biometric
    data and must never reach the report, whatever a speakers section hands over."""
    found = _dict(found)
    return {"speakers": [{k: s.get(k) for k in ("label", "name", "speech_s")}
                         for s in dicts(found.get("speakers"))],
            "turns": [{k: t.get(k) for k in ("speaker", "start_s", "end_s")}
                      for t in dicts(found.get("turns"))]}


def _job(job: Job, done: set[str]) -> dict[str, Any]:
    planned = job.analyses or job.requested_analyses or []
    pending = [name for name in planned if name not in done]
    # Segments already stored for an unfinished analysis: how far a segmented job is.
    stored = (Counter(job.segment_results.filter(analysis__in=pending)
                      .values_list("analysis", flat=True))
              if pending and job.segments else Counter())
    return {
        "id": str(job.id),
        "state": job.state,
        "finished": job.state in TERMINAL,
        "progress": progress.of(job),  # done of total and the ETA, as the jobs API says
        "media_name": job.media_name,
        "confidentiality": job.confidentiality,
        "urgency": job.urgency,
        "created_at": _iso(job.created_at),
        "running_at": _iso(job.running_at),
        "finished_at": _iso(job.finished_at),
        "error": job.error,
        "analyses": list(planned),
        # A partial job: the analyses it ran without, and why (its placement decision).
        "skipped": list((job.placement or {}).get("skipped") or []),
        # Units that hosts handed back unfinished (a spot preemption) and others redid.
        "rework": rework(job.subject),
        "segments": job.segments or [],
        "pending": [{"analysis": name, "segments_done": stored[name],
                     "segments_total": len(job.segments or [])} for name in pending],
    }


def _media(asset: MediaAsset) -> dict[str, Any]:
    probe = asset.metadata if isinstance(asset.metadata, dict) else {}
    video, audio, image = (_dict(probe.get(kind)) for kind in ("video", "audio", "image"))
    picture = video or image
    streams = [{"kind": kind, **{k: v for k, v in info.items() if k != "exif"}}
               for kind, info in (("video", video), ("audio", audio), ("image", image)) if info]
    return {
        "sha256": asset.sha256,
        "size_bytes": asset.size_bytes,
        "media_type": asset.media_type,
        "container": probe.get("container"),
        "duration_s": num(probe.get("duration_s")),
        "resolution": ({"width": picture.get("width"), "height": picture.get("height")}
                       if picture else None),
        "fps": num(video.get("fps")),
        "frame_count": video.get("frame_count"),
        "audio": audio or None,
        "streams": streams,
        "exif": _dict(image.get("exif")),
    }


def _duration(media: dict[str, Any], data: dict[str, dict[str, Any]],
              shown: dict[str, tuple[Section, ...]]) -> float | None:
    """The media's length: from the probe, else the longest any analysis saw."""
    if media["duration_s"]:
        return media["duration_s"]
    seen = [num(d.get("duration_s")) for d in data.values()]
    for name, sections in shown.items():
        for section in sections:
            seen += [num(item.get("end_s")) for item in dicts(data[name].get(section.keys[0]))]
    longest = max((s for s in seen if s), default=None)
    return round(longest, 3) if longest else None


def _analysis(result: AnalysisResult) -> dict[str, Any]:
    meta = _dict(result.meta)
    return {
        "analysis": result.analysis,
        "agent_id": result.agent_id,
        "agent": result.agent.name if result.agent else None,
        "gpu_uuid": result.gpu_uuid,
        "started_at": _iso(result.started_at),
        "finished_at": _iso(result.finished_at),
        "duration_s": round(result.duration_s, 3),
        "models": _models(meta, _dict(result.data)),
        "device": meta.get("device"),
        "precision": meta.get("precision"),
        "batch_size": meta.get("batch_size"),
        "segments": by_time(dicts(meta.get("segments")), "index"),
    }


def _models(meta: dict[str, Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    """The models from the meta; rows older than the meta name theirs in the data
    (a "detector" or "model"), without a checksum."""
    found = meta.get("models")
    if not isinstance(found, list) or not found:
        found = [m for m in (data.get("detector"), data.get("model")) if isinstance(m, dict)]
    models = []
    for model in found:
        entry = model if isinstance(model, dict) else {"name": model}
        models.append({"name": str(entry.get("name") or ""), "version": entry.get("version"),
                       "sha256": entry.get("sha256")})
    return models


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _iso(moment: datetime | None) -> str | None:
    # The same form DRF's serializers give the other job endpoints.
    return moment.isoformat().replace("+00:00", "Z") if moment else None


# The page ------------------------------------------------------------------

_TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
_QUERY_CHARS = 200
# Lane hues: speakers by their place in the list, sound events by their label.
_SPEAKER_HUES = 6
_SOUNDS = ("speech", "singing", "music")


class ReportHTMLRenderer(TemplateHTMLRenderer):
    """The report as a readable page, for ``?format=html`` or ``Accept: text/html``."""

    template_name = "jobs/report.html"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict[str, Any] | None = None) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is None or response.exception or _is_report(data):
            return super().render(data, accepted_media_type, renderer_context)
        # Anything else asked for as HTML (OPTIONS describes the endpoint): the data
        # itself, escaped, on a bare page.
        text = json.dumps(data, indent=2, sort_keys=True, default=str)
        return f"<!doctype html>\n<pre>{escape(text)}</pre>\n".encode()

    def get_template_context(self, data: Any, renderer_context: dict[str, Any]) -> Any:
        if renderer_context["response"].exception:
            return super().get_template_context(data, renderer_context)
        request = renderer_context.get("request")
        query = request.query_params.get("q", "") if request is not None else ""
        # Thumbnails only here: the page is drawn for someone the report view let in.
        return {**page_context(data, query[:_QUERY_CHARS]),
                "thumbnails": report_frames.thumbnails(data["media"], data["keyframes"])}


def _is_report(data: Any) -> bool:
    return isinstance(data, dict) and {"job", "media", "timeline"} <= data.keys()


def page_context(report: dict[str, Any], query: str = "") -> dict[str, Any]:
    """The report plus what the page draws: positions in percent of the media's length;
    with a ``query``, only the dialogue lines that hold it, the matches marked."""
    duration = report["timeline"]["duration_s"]
    timeline = report["timeline"]
    facts = _facts(report)
    query = query.strip()
    return {
        "report": report,
        "duration": clock(duration),
        "ticks": _ticks(duration),
        "track_rows": [[_bar(t, duration, f"#{t.get('id')}", _track_title(t)) for t in row]
                       for row in _packed(timeline["tracks"])],
        "shot_bars": [_bar(s, duration, str(s.get("index", "")),
                           f"shot {s.get('index')}: {_span(s)}") for s in timeline["shots"]],
        "speech_bars": [_bar(s, duration, "", f"{s['kind']}: {_span(s)}", s["kind"])
                        for s in report["speech_map"]],
        "speaker_lanes": _speaker_lanes(report["speakers"], duration),
        "sound_lanes": _sound_lanes(report["sound_events"], duration),
        **report_vision.page(report, _bar),
        "query": query,
        "dialogue": [_said(line) for line in (dialogue.search(report["dialogue"], query)
                                              if query else report["dialogue"])],
        "facts": [fact for found in facts.values() for fact in found],
        # A result no fact shows (none declared, or none made of it) is shown raw.
        "other_results": [(name, json.dumps(value, indent=2, sort_keys=True, default=str))
                          for name, value in report["results"].items() if not facts.get(name)],
    }


def _said(line: dict[str, Any]) -> dict[str, Any]:
    """A dialogue line for the page: its time, who, and its text in (marked) parts."""
    return {"at": clock(num(line.get("start_s"))), "title": _span(line),
            "who": line.get("name") or line.get("speaker") or "",
            "language": line.get("language") or "",
            "parts": line.get("parts") or [{"text": line.get("text") or "", "mark": False}]}


def _speaker_lanes(speakers: dict[str, list[dict[str, Any]]], duration: float | None,
                   ) -> list[dict[str, Any]]:
    """A lane per speaker, in the order of the speakers' list (then of first turn)."""
    order = [s.get("label") for s in speakers["speakers"]]
    order += [t.get("speaker") for t in speakers["turns"] if t.get("speaker") not in order]
    names = {s.get("label"): s.get("name") for s in speakers["speakers"]}
    lanes = []
    for index, label in enumerate(dict.fromkeys(order)):
        who = names.get(label) or label or "?"
        turns = [t for t in speakers["turns"] if t.get("speaker") == label]
        lanes.append({"name": str(who), "label": str(label), "bars": [
            _bar(t, duration, "", f"{who}: {_span(t)}", f"spk{index % _SPEAKER_HUES}")
            for t in turns]})
    return [lane for lane in lanes if lane["bars"]]


def _sound_lanes(found: list[dict[str, Any]], duration: float | None) -> list[dict[str, Any]]:
    """A lane per sound event label: the model's classes first, then any other."""
    labels = sorted({str(e.get("label")) for e in found},
                    key=lambda label: (_SOUNDS.index(label) if label in _SOUNDS else 9, label))
    lanes = []
    for label in labels:
        kind = f"ev-{label}" if label in _SOUNDS else "ev-other"
        bars = [_bar(e, duration, "", f"{label}: {_span(e)}{_confidence(e)}", kind)
                for e in found if str(e.get("label")) == label]
        lanes.append({"name": label, "bars": bars})
    return lanes


def _confidence(event: dict[str, Any]) -> str:
    confidence = num(event.get("confidence"))
    return "" if confidence is None else f", confidence {confidence:.2f}"


def _facts(report: dict[str, Any]) -> dict[str, list[Fact]]:
    """Per analysis with a result, in catalogue order, the facts its spec makes of it.
    Only Fact records pass: every swatch's hex code is checked, so style attributes
    stay safe."""
    found: dict[str, list[Fact]] = {}
    for name, spec in catalogue().specs.items():
        result = report["results"].get(name, report["summary"].get(name))
        if spec.facts and result is not None:
            facts = spec.facts
            found[name] = _guarded(name, lambda data, facts=facts: [
                f for f in facts(data) or () if isinstance(f, Fact)], _dict(result), [])
    return found


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(max(seconds, 0.0), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:04.1f}" if hours else f"{minutes}:{rest:04.1f}"


def _percent(value: float) -> str:
    # A preformatted string: the template must not localise a float into "12,5".
    return f"{min(max(value, 0.0), 100.0):.3f}"


def _bar(item: dict[str, Any], duration: float | None, label: str, title: str,
         kind: str = "") -> dict[str, str]:
    start = num(item.get("start_s")) or 0.0
    end = num(item.get("end_s"))
    end = duration if end is None else end
    if not duration or end is None:
        return {"left": "0", "width": "0", "label": label, "title": title, "kind": kind}
    # A sliver for very short spans, so that every item can be seen and hovered.
    width = max((end - start) / duration * 100, 0.3)
    return {"left": _percent(start / duration * 100), "width": _percent(width),
            "label": label, "title": title, "kind": kind}


def _packed(tracks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Tracks in as few rows as possible, none overlapping another in its row."""
    rows: list[list[dict[str, Any]]] = []
    for track in tracks:  # already in start order
        start = num(track.get("start_s")) or 0.0
        row = next((r for r in rows if (num(r[-1].get("end_s")) or 0.0) <= start), None)
        if row is None:
            rows.append([track])
        else:
            row.append(track)
    return rows


def _ticks(duration: float | None) -> list[dict[str, str]]:
    step = next((s for s in _TICK_STEPS_S if (duration or 0) <= 10 * s), _TICK_STEPS_S[-1])
    return [{"left": _percent(t / duration * 100), "label": clock(t)}
            for t in range(0, int(duration) + 1, step)] if duration else []


def _span(item: dict[str, Any]) -> str:
    return f"{clock(num(item.get('start_s')))} - {clock(num(item.get('end_s')))}"


def _track_title(track: dict[str, Any]) -> str:
    samples = track.get("samples", len(track.get("boxes", [])))
    return f"{track.get('label', 'track')} #{track.get('id')}: {_span(track)}, {samples} samples"
