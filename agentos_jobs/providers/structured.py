"""A request's JSON schema in each provider's structured-output form, and the answer back as JSON text.

OpenAI-compatible: `response_format` with a strict json_schema (servers that ignore it answer in prose, which
may refuse but never approve: see verdict.py). Anthropic: one tool whose input schema is the schema, forced by
`tool_choice`; its `tool_use` input is the answer. Gemini: `response_schema` with `response_mime_type`
application/json.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_NAME = "review_verdict"  # the name a JSON answer is asked under (a schema, or a tool to call)


_TOOL_DESCRIPTION = "Record the review's verdict and findings."


def openai_params(schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        return {}
    return {"response_format": {"type": "json_schema",
                                "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": schema}}}


def anthropic_params(schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        return {}
    return {"tools": [{"name": SCHEMA_NAME, "description": _TOOL_DESCRIPTION, "input_schema": schema}],
            "tool_choice": {"type": "tool", "name": SCHEMA_NAME}}


def gemini_params(schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        return {}
    return {"response_mime_type": "application/json", "response_schema": schema}


def anthropic_text(blocks: list[Any]) -> str:
    """The answer's text; a forced tool call's input is the answer, as JSON."""
    for block in blocks:
        if block.type == "tool_use" and block.name == SCHEMA_NAME:
            return json.dumps(block.input, ensure_ascii=False)
    return "".join(block.text for block in blocks if block.type == "text")
