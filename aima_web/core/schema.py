"""The error answers every API operation can give, written into the OpenAPI schema.

drf-spectacular documents what a view declares; the answers DRF and AIMA give to
bad input, missing credentials, refused roles, unknown ids, throttling (4xx) and
faults (503, aima_web.core.faults) are the same everywhere, so they are added here
once (a SPECTACULAR_SETTINGS postprocessing hook) rather than on every view.
"""

from __future__ import annotations

from typing import Any

_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

_SCHEMAS: dict[str, dict[str, Any]] = {
    "ClientError": {
        "type": "object",
        "description": "Why the request was refused: ``detail``, or each field at fault "
                       "with its messages.",
        "additionalProperties": True,
    },
    "Fault": {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
}

_RESPONSES: dict[str, dict[str, Any]] = {
    "4XX": {"description": "Refused: bad input, no or wrong credentials, not allowed for the "
                           "role, not found, too large, or too many requests.",
            "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ClientError"}}}},
    "503": {"description": "The database or the message broker cannot be reached; try again "
                           "after Retry-After seconds.",
            "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Fault"}}}},
}


def _answers_html(responses: dict[str, Any]) -> bool:
    return any("text/html" in (response.get("content") or {})
               for status, response in responses.items() if status.startswith("2"))


def document_errors(result: dict[str, Any], generator: Any, request: Any,
                    public: bool) -> dict[str, Any]:
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in _RESPONSES.items():
                responses.setdefault(status, response)
            if _answers_html(responses):
                # An operation that renders a page renders its refusals as a page too.
                responses["4XX"] = {**responses["4XX"], "content": {
                    **responses["4XX"]["content"], "text/html": {"schema": {"type": "string"}}}}
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in _SCHEMAS.items():
        schemas.setdefault(name, schema)
    return result
