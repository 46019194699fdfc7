"""A review's verdict, read whatever form it comes in, and the answers a revision gives to its findings.

Reviews are asked for as JSON (`SCHEMA`) through each provider's structured output. Many OpenAI-compatible
servers ignore that and answer in prose, so a reply is read as, in order: a JSON object, a JSON object in a
fenced block, or a `VERDICT:` line with `- [blocking] ...` findings. Anything else, or two verdicts that
disagree, is REVISE: a review never approves by default.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .fsutil import parse_json
from .text import one_line

APPROVED, REVISE, DISCUSS, BLOCKED = "APPROVED", "REVISE", "DISCUSS", "BLOCKED"
VERDICTS = (APPROVED, REVISE, DISCUSS, BLOCKED)
TIERS = ("blocking", "high", "suggestion")
SCHEMA_NAME = "review_verdict"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": list(VERDICTS)},
        "findings": {"type": "array", "items": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "tier": {"type": "string", "enum": list(TIERS)},
                           "text": {"type": "string"}},
            "required": ["id", "tier", "text"], "additionalProperties": False}},
    },
    "required": ["verdict", "findings"], "additionalProperties": False,
}

_TIER_WORDS = {"blocking": "blocking", "blocker": "blocking", "critical": "blocking", "tier 1": "blocking",
               "high": "high", "major": "high", "tier 2": "high",
               "suggestion": "suggestion", "minor": "suggestion", "nit": "suggestion", "tier 3": "suggestion"}
_VERDICT_LINE = re.compile(r"^[\s>*_#-]*verdict[\s*_]*:[\s*_]*(approved|revise|discuss|blocked)\b",
                           re.IGNORECASE | re.MULTILINE)
_CHECKED_BOX = re.compile(r"\[[xX]\]\s*\*\*(APPROVED|REVISE|DISCUSS|BLOCKED)\*\*")
_FENCED_JSON = re.compile(r"```(?:json)?[ \t]*\n(\{.*?\})\s*\n```", re.DOTALL)
_TEXT_FINDING = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+(?:\*\*)?[\[(]?(blocking|blocker|critical|high|major|suggestion|"
                           r"minor|nit)[\])]?(?:\*\*)?\s*[:\-—]?\s*(.+)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Finding:
    id: str  # R<round>.<n>, given by the workflow whatever the reviewer called it
    tier: str  # one of TIERS
    text: str


@dataclass(frozen=True)
class Verdict:
    verdict: str  # one of VERDICTS
    findings: tuple[Finding, ...] = ()
    structured: bool = False  # read from JSON (the schema was honoured, or JSON came in a fenced block)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.tier == "blocking")

    @property
    def approved(self) -> bool:
        """APPROVED and nothing blocking left open: a reviewer cannot approve over its own blocking finding."""
        return self.verdict == APPROVED and not self.blocking

    @property
    def outcome(self) -> str:
        """What the workflow does: APPROVED with a blocking finding is a REVISE."""
        return REVISE if self.verdict == APPROVED and self.blocking else self.verdict

    def question(self) -> str:
        """What a DISCUSS or BLOCKED review asks or says, as one line."""
        texts = [f.text for f in self.findings if f.text.rstrip().endswith("?")] or [f.text for f in self.findings]
        return one_line("; ".join(texts)) or "the reviewer gave no reason"


def _tier(value: object) -> str:
    """A tier by its name or a common synonym; an unknown one is 'high' (it holds a revision, not approval)."""
    return _TIER_WORDS.get(" ".join(str(value).lower().split()), "high")


def _from_json(data: object, round_no: int) -> Verdict | None:
    if not isinstance(data, dict) or str(data.get("verdict", "")).upper() not in VERDICTS:
        return None
    raw = data.get("findings")
    items = [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []
    findings = tuple(Finding(f"R{round_no}.{n}", _tier(item.get("tier")), str(item.get("text") or "").strip())
                     for n, item in enumerate((i for i in items if str(i.get("text") or "").strip()), 1))
    return Verdict(str(data["verdict"]).upper(), findings, structured=True)


def _json_object(text: str) -> object:
    try:
        return parse_json(text)
    except ValueError:
        return None


def parse_verdict(text: str, round_no: int) -> Verdict:
    """Read a review (see the module's doc). Findings are numbered R<round>.1, R<round>.2, ... in order."""
    stripped = text.strip()
    candidates: list[Verdict] = []
    whole = _from_json(_json_object(stripped), round_no) if stripped.startswith("{") else None
    if whole:
        return whole
    fenced = [v for block in _FENCED_JSON.findall(text) if (v := _from_json(_json_object(block), round_no))]
    candidates += fenced[-1:]
    said = {m.upper() for m in _VERDICT_LINE.findall(text)} | {m.upper() for m in _CHECKED_BOX.findall(text)}
    if len(said) == 1 and not candidates:
        findings = tuple(Finding(f"R{round_no}.{n}", _tier(tier), body.strip())
                         for n, (tier, body) in enumerate(_TEXT_FINDING.findall(text), 1))
        if not findings and said != {APPROVED}:  # prose without marked findings: the review itself is the finding
            body = _VERDICT_LINE.sub("", text).strip()
            findings = (Finding(f"R{round_no}.1", "high", body),) if body else ()
        candidates.append(Verdict(said.pop(), findings))
    verdicts = {c.verdict for c in candidates} | said
    if len(candidates) == 1 and len(verdicts) == 1:
        return candidates[0]
    why = ("the review gave more than one verdict" if len(verdicts) > 1
           else "the review could not be read (no JSON verdict and no 'VERDICT:' line)")
    return Verdict(REVISE, (Finding(f"R{round_no}.1", "high", f"{why}; its text was: {one_line(text, 2000)}"),))


def render_review(text: str, round_no: int) -> str:
    """A review as its lineage file shows it: a JSON answer as a findings table (the JSON kept below it), any
    other answer as the reviewer wrote it."""
    data = _json_object(text.strip()) if text.strip().startswith("{") else None
    if not (verdict := _from_json(data, round_no)):
        return text
    lines = [f"# Review {round_no}", ""]
    if verdict.findings:
        lines += ["| ID | Tier | Finding |", "|----|------|---------|"]
        lines += [f"| {f.id} | {f.tier} | {table_cell(f.text)} |" for f in verdict.findings]
    else:
        lines.append("No findings.")
    lines += ["", "```json", json.dumps(data, indent=2, ensure_ascii=False), "```", "",
              f"VERDICT: {verdict.verdict}"]
    return "\n".join(lines) + "\n"


def table_cell(text: str, limit: int | None = None) -> str:
    """Text as one cell of a Markdown table: one line, its pipes escaped."""
    return one_line(text, limit).replace("|", "\\|")


RESPONSES_HEADING = "Review Responses"
_RESPONSE = re.compile(r"^\s*(?:[-*]\s+)?(?:\*\*)?((?:R|G)\d+\.\d+)(?:\*\*)?\s*[:\-—\u2013]+\s*(.*)$", re.MULTILINE)
_ANSWER = re.compile(r"^(?:\*\*)?(not addressed|no|noted|declined|deferred|yes|addressed|done|fixed|implemented|"
                     r"resolved|answered)\b(?:\*\*)?\s*[—\u2013:\-]*\s*(.*)$", re.IGNORECASE | re.DOTALL)
_ADDRESSED = ("yes", "addressed", "done", "fixed", "implemented", "resolved", "answered")
_TRAILER = re.compile(rf"^#{{1,6}}\s+(?:{RESPONSES_HEADING}|Appendix:?\s*Review Log)\s*$", re.IGNORECASE | re.MULTILINE)


def split_responses(draft: str) -> tuple[str, dict[str, str]]:
    """The design without its trailing '## Review Responses' (and any review log a model appended), and the
    answers it gives, by finding id."""
    match = _TRAILER.search(draft)
    if not match:
        return draft, {}
    answers = {m.group(1): m.group(2).strip() for m in _RESPONSE.finditer(draft[match.end():])}
    return draft[: match.start()].rstrip() + "\n", answers


def answer_state(answer: str) -> tuple[bool, str]:
    """Whether a drafter's answer to a finding says it was addressed, and what else it says."""
    match = _ANSWER.match(answer.strip())
    if not match:
        return False, answer.strip()
    return match.group(1).lower() in _ADDRESSED, match.group(2).strip() or match.group(1)
