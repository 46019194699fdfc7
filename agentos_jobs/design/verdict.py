"""A review's verdict, read so that only a reply that keeps to the review schema can approve; and the answers a
revision gives to its findings.

Reviews are asked for as JSON (`SCHEMA`) through each provider's structured output. A reply that is that JSON
object (alone, or alone in a fenced block), with no key given twice, is read with its findings in the shapes
models commonly write them: a tier under `tier`, `severity`, `priority` or `level` (one not known, such as `P0`,
is blocking; of two, the more severe), a text under `text`, `description`, `issue` or `comment`, or a finding
that is only a string. Any other reply may still refuse in prose (one `VERDICT: REVISE`, `DISCUSS` or `BLOCKED`
line and nothing that says otherwise), never approve: a prose approval, two verdicts that disagree, or no verdict
raise `UnreadableReview`, which says what was wrong so the workflow can ask once more. An approval with any open
blocking or high finding is a REVISE.

A review after the first is shown the previous review's findings; a finding whose `reopens` names one of them
says it is still not fixed (and is at least as grave as it was, when that was blocking or high), and leaving one
out confirms it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agentos_jobs.core.errors import UnreadableReview
from agentos_jobs.core.text import one_line, writable

APPROVED, REVISE, DISCUSS, BLOCKED = "APPROVED", "REVISE", "DISCUSS", "BLOCKED"
VERDICTS = (APPROVED, REVISE, DISCUSS, BLOCKED)
TIERS = ("blocking", "high", "suggestion")
HOLDING = ("blocking", "high")  # tiers an approval cannot leave open
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": list(VERDICTS)},
        "findings": {"type": "array", "items": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "tier": {"type": "string", "enum": list(TIERS)},
                           "text": {"type": "string"}, "reopens": {"type": "string"}},
            "required": ["id", "tier", "text", "reopens"], "additionalProperties": False}},
    },
    "required": ["verdict", "findings"], "additionalProperties": False,
}

_TIER_KEYS = ("tier", "severity", "priority", "level")
_TEXT_KEYS = ("text", "description", "issue", "comment", "finding", "message")
_TIER_WORDS = {"blocking": "blocking", "blocker": "blocking", "critical": "blocking", "tier 1": "blocking",
               "high": "high", "major": "high", "medium": "high", "moderate": "high", "tier 2": "high",
               "suggestion": "suggestion", "minor": "suggestion", "nit": "suggestion", "low": "suggestion",
               "info": "suggestion", "optional": "suggestion", "tier 3": "suggestion"}
_VERDICT_LINE = re.compile(r"^[\s>*_#-]*verdict[\s*_]*:[\s*_]*([a-z]+)", re.IGNORECASE | re.MULTILINE)
_CHECKED_BOX = re.compile(r"\[[xX]\]\s*\*\*(APPROVED|REVISE|DISCUSS|BLOCKED)\*\*")
_SOLE_FENCE = re.compile(r"```(?:json)?[ \t]*\n(.*)\n[ \t]*```", re.DOTALL | re.IGNORECASE)
_EMBEDDED = re.compile(r"\{\s*\"verdict\"\s*:")
_TEXT_FINDING = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+(?:\*\*)?[\[(]?(blocking|blocker|critical|high|major|suggestion|"
                           r"minor|nit)[\])]?(?:\*\*)?\s*[:\-—]?\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_SHORT_ID = re.compile(r"\d+\.\d+")


@dataclass(frozen=True)
class Finding:
    id: str  # R<round>.<n>, given by the workflow whatever the reviewer called it
    tier: str  # one of TIERS
    text: str
    reopens: str = ""  # the id of the previous review's finding this one says is still not fixed


@dataclass(frozen=True)
class Verdict:
    verdict: str  # one of VERDICTS, as the reviewer said it
    findings: tuple[Finding, ...] = ()
    structured: bool = False  # the reply was the schema's JSON object: the only kind that may approve

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.tier == "blocking")

    @property
    def approved(self) -> bool:
        """APPROVED in the schema's JSON, with no blocking or high finding left open."""
        return self.structured and self.verdict == APPROVED and not any(f.tier in HOLDING for f in self.findings)

    @property
    def outcome(self) -> str:
        """What the workflow does: an APPROVED that does not approve is a REVISE."""
        return REVISE if self.verdict == APPROVED and not self.approved else self.verdict

    def question(self) -> str:
        """What a DISCUSS or BLOCKED review asks or says, as one line."""
        texts = [f.text for f in self.findings if f.text.rstrip().endswith("?")] or [f.text for f in self.findings]
        return one_line("; ".join(texts)) or "the reviewer gave no reason"


def _tier(value: object) -> str:
    """A tier by its name or a common synonym; one not known (`P0`, none at all) is blocking."""
    return _TIER_WORDS.get(" ".join(str(value).lower().split()), "blocking")


def _reopens(value: object, earlier: tuple[Finding, ...]) -> str:
    """The earlier finding a finding reopens, by its id (`R1.2`, `r1.2` or `1.2`); anything else reopens none."""
    said = str(value or "").strip().upper()
    said = f"R{said}" if _SHORT_ID.fullmatch(said) else said
    return said if any(f.id == said for f in earlier) else ""


def _finding(item: object, number: int, round_no: int, earlier: tuple[Finding, ...]) -> Finding:
    ident = f"R{round_no}.{number}"
    if isinstance(item, str) and item.strip():
        return Finding(ident, "blocking", item.strip())
    if not isinstance(item, dict):
        raise UnreadableReview(f"finding {number} is not an object with a tier and a text")
    text = next((item[key].strip() for key in _TEXT_KEYS if isinstance(item.get(key), str) and item[key].strip()),
                "")
    if not text:
        raise UnreadableReview(f"finding {number} has no text (give it as \"text\")")
    tiers = [_tier(item[key]) for key in _TIER_KEYS if item.get(key) is not None] or [_tier(None)]
    reopens = _reopens(item.get("reopens"), earlier)
    tiers += [f.tier for f in earlier if f.id == reopens and f.tier in HOLDING]  # still open: as grave as it was
    return Finding(ident, min(tiers, key=TIERS.index), text, reopens)


def _validated(data: object, round_no: int, earlier: tuple[Finding, ...]) -> Verdict:
    """The schema's JSON object, its findings in any of the common shapes; anything else raises."""
    if not isinstance(data, dict):
        raise UnreadableReview("the reply is JSON but not an object with 'verdict' and 'findings'")
    if extra := sorted(set(data) - {"verdict", "findings"}):
        raise UnreadableReview(f"the object has {', '.join(repr(k) for k in extra)}: only 'verdict' and "
                               "'findings' are read, so everything the review says goes in a finding")
    verdict = data.get("verdict")
    if not isinstance(verdict, str) or verdict.strip().upper() not in VERDICTS:
        raise UnreadableReview(f"'verdict' is {one_line(json.dumps(verdict), 80)}, not one of {', '.join(VERDICTS)}")
    findings = data.get("findings")
    if not isinstance(findings, list):
        raise UnreadableReview("'findings' is missing or not a list (give [] when there are none)")
    return Verdict(verdict.strip().upper(), tuple(_finding(item, n, round_no, earlier)
                                                  for n, item in enumerate(findings, 1)), structured=True)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose every key is given once (`{"verdict": "REVISE", ..., "verdict": "APPROVED"}` would
    otherwise be read as its last word), its texts `writable`: a lone surrogate escaped in a reply (`\\ud83d`)
    would otherwise fail every write of the review, on every run."""
    keys = [key for key, _ in pairs]
    if twice := next((key for key in keys if keys.count(key) > 1), None):
        raise UnreadableReview(f"the JSON gives {one_line(json.dumps(twice), 40)} more than once")
    return {writable(key): _writable(value) for key, value in pairs}


def _writable(value: Any) -> Any:
    """A decoded JSON value with its strings `writable` (an object's own are, by `_unique`)."""
    if isinstance(value, str):
        return writable(value)
    return [_writable(item) for item in value] if isinstance(value, list) else value


_DECODER = json.JSONDecoder(object_pairs_hook=_unique)


def _sole_object(text: str) -> object:
    """The JSON value a reply is, alone or alone in one fenced block; None when it is not only that. Raises
    UnreadableReview for an object that gives a key twice."""
    stripped = text.strip()
    fenced = _SOLE_FENCE.fullmatch(stripped)
    body = fenced.group(1).strip() if fenced else stripped
    if not body.startswith(("{", "[")):
        return None
    try:
        return _DECODER.decode(body)
    except UnreadableReview:
        raise
    except (ValueError, RecursionError):  # not JSON, or a number too long or nesting too deep to read
        return None


def _embedded(text: str) -> list[dict[str, Any]]:
    """JSON objects with a 'verdict' that prose holds. Raises UnreadableReview for one that gives a key twice."""
    found = []
    for match in _EMBEDDED.finditer(text):
        try:
            data, _ = _DECODER.raw_decode(text, match.start())
        except UnreadableReview:
            raise
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict):
            found.append(data)
    return found


def parse_verdict(text: str, round_no: int, earlier: tuple[Finding, ...] = ()) -> Verdict:
    """Read a review (see the module's doc); `earlier` are the findings it may reopen. Findings are numbered
    R<round>.1, R<round>.2, ... in order. Raises UnreadableReview."""
    data = _sole_object(text)
    if data is not None:
        return _validated(data, round_no, earlier)
    embedded = _embedded(text)
    said = {w.upper() for w in _VERDICT_LINE.findall(text)} | set(_CHECKED_BOX.findall(text)) | {
        str(d.get("verdict")).strip().upper() for d in embedded}
    if said == {APPROVED}:
        raise UnreadableReview("an approval counts only as the JSON object the schema asks for, alone: this one "
                               "is prose or has text around it")
    if len(said) > 1:
        raise UnreadableReview(f"the reply gives more than one verdict ({', '.join(sorted(said))})")
    if not said or not said <= set(VERDICTS):
        raise UnreadableReview("the reply is not the JSON object the schema asks for and says no verdict")
    verdict = said.pop()
    for data in embedded[:1]:
        try:
            return Verdict(verdict, _validated(data, round_no, earlier).findings)
        except UnreadableReview:
            pass
    findings = tuple(Finding(f"R{round_no}.{n}", _tier(tier), body.strip())
                     for n, (tier, body) in enumerate(_TEXT_FINDING.findall(text), 1))
    if not findings:  # prose without marked findings: the review itself is the finding
        body = _VERDICT_LINE.sub("", text).strip()
        findings = (Finding(f"R{round_no}.1", "high", body),) if body else ()
    return Verdict(verdict, findings)


def render_review(text: str, round_no: int, earlier: tuple[Finding, ...] = ()) -> str:
    """A review as its lineage file shows it: the schema's JSON as a findings table (the JSON kept below it), any
    other answer as the reviewer wrote it."""
    try:
        data = _sole_object(text)
        verdict = _validated(data, round_no, earlier)
    except UnreadableReview:
        return text
    lines = [f"# Review {round_no}", ""]
    if verdict.findings:
        lines += ["| ID | Tier | Finding |", "|----|------|---------|"]
        lines += [f"| {f.id} | {f.tier} | {table_cell(shown(f))} |" for f in verdict.findings]
    else:
        lines.append("No findings.")
    lines += ["", "```json", json.dumps(data, indent=2, ensure_ascii=False), "```", "", f"VERDICT: {verdict.verdict}"]
    if verdict.outcome != verdict.verdict:
        lines.append(f"Read as: {verdict.outcome} (an approval with an open blocking or high finding)")
    return "\n".join(lines) + "\n"


def shown(finding: Finding) -> str:
    """A finding's text as a log shows it, saying which earlier finding it reopens."""
    return f"(reopens {finding.reopens}) {finding.text}" if finding.reopens else finding.text


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
