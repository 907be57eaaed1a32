"""The OpenAPI document of the log server (``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

from ledger.entry import MAX_ENTRY_BYTES

_TEXT = {"text/plain; charset=utf-8": {"schema": {"type": "string"}}}
_OCTETS = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_REFUSAL = {"content": _TEXT}


def _refusal(description: str) -> dict[str, Any]:
    return {"description": description + "; the body is the one line accord prints", **_REFUSAL}


def _tile_path(description: str, level: bool) -> dict[str, Any]:
    parameters = [{"name": "N", "in": "path", "required": True, "description": "the tile index in x-prefixed 3-digit groups (x001/x234/067)", "schema": {"type": "string"}}]
    if level:
        parameters.insert(0, {"name": "L", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0, "maximum": 63}})
    return {
        "get": {
            "summary": description,
            "description": "C2SP tlog-tiles; a partial tile of width W (1-255) is at the same path followed by .p/W. Immutable.",
            "parameters": parameters,
            "responses": {"200": {"description": description, "content": _OCTETS}, "404": _refusal("no such tile in the published tree")},
        }
    }


def document() -> dict[str, Any]:
    """The API: the C2SP tlog-tiles reads, the kept checkpoints, POST /add, /status and /healthz."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Accord log server", "version": "1", "description": "The secretariat's log (SPEC section 11): C2SP tlog-tiles reads, signed statements submitted over HTTP."},
        "paths": {
            "/checkpoint": {
                "get": {
                    "summary": "The newest published checkpoint (C2SP tlog-checkpoint), with its cosignatures",
                    "responses": {"200": {"description": "the signed checkpoint note", "content": _TEXT}, "404": _refusal("no checkpoint yet")},
                }
            },
            "/checkpoints": {
                "get": {
                    "summary": "Every published checkpoint kept, with its cosignatures (not only the newest)",
                    "description": "Accord's own read, not tlog-tiles: a mirror keeps what the log published. The checkpoints of after < size <= upto, "
                    "oldest first; at most 500, the newest of the range, and more is true when older ones in the range are left (ask again with upto below the oldest returned).",
                    "parameters": [
                        {"name": "after", "in": "query", "required": False, "description": "only sizes above this (default 0)", "schema": {"type": "integer", "minimum": 0}},
                        {"name": "upto", "in": "query", "required": False, "description": "only sizes up to this (default: all)", "schema": {"type": "integer", "minimum": 0}},
                    ],
                    "responses": {
                        "200": {
                            "description": "the kept checkpoint notes",
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "checkpoints": {"type": "array", "items": {"type": "string", "description": "a signed checkpoint note with its cosignatures"}},
                                "more": {"type": "boolean"},
                            }}}},
                        },
                        "400": _refusal("after or upto is not a tree size"),
                    },
                }
            },
            "/tile/{L}/{N}": _tile_path("A hash tile: 256 (or W) SHA-256 hashes of the tree at height 8L", True),
            "/tile/entries/{N}": _tile_path("An entry bundle: each entry as a big-endian uint16 length and its bytes", False),
            "/add": {
                "post": {
                    "summary": "Submit one signed statement note",
                    "requestBody": {"required": True, "content": {"text/plain; charset=utf-8": {"schema": {"type": "string", "maxLength": MAX_ENTRY_BYTES}}}},
                    "responses": {
                        "200": {"description": "the receipt (C2SP tlog-proof@v1): durably appended and covered by the published checkpoint", "content": {"text/x.tlog-proof; charset=utf-8": {"schema": {"type": "string"}}}},
                        "400": _refusal("malformed statement"),
                        "409": _refusal("the log already holds this statement"),
                        "413": _refusal("too large for an entry"),
                        "422": _refusal("refused by a rule or a signature check"),
                        "429": {**_refusal("too many submissions waiting"), "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
                        "503": _refusal("storage (or witnesses) unavailable"),
                    },
                }
            },
            "/status": {
                "get": {
                    "summary": "Size, checkpoint age, witnesses",
                    "responses": {
                        "200": {
                            "description": "status",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "version": {"type": "integer"},
                                            "origin": {"type": "string"},
                                            "size": {"type": "integer", "description": "entries under the published checkpoint"},
                                            "entries": {"type": "integer", "description": "entries stored"},
                                            "checkpoint_age": {"type": "integer", "description": "seconds the oldest entry not under the checkpoint has waited (0: all covered)"},
                                            "witnesses": {"type": "array", "items": {"type": "string"}},
                                            "pending": {"type": "integer"},
                                            "batches": {"type": "integer"},
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/healthz": {"get": {"summary": "200 only while the published checkpoint is fresh", "responses": {"200": {"description": "ok", "content": _TEXT}, "503": _refusal("stale or unavailable")}}},
        },
    }
