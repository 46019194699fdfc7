"""Draft, gate, review, revise: the rounds both workflows run, and the review log they keep.

Each round is one draft: the mechanical gate checks it (a checkpointed step, no model call); a draft that fails
goes back to the drafter with the gate's findings and no review is paid for it. A draft that passes is reviewed:
APPROVED with no blocking finding ends the rounds; DISCUSS ends the item needs-human with the reviewer's question;
BLOCKED fails it with the reviewer's reason; anything else is a revision that must answer every finding by id.
`max_iterations` drafts at most; a last draft that still leaves open questions `- [ ]` ends needs-human naming them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..fsutil import display_path
from ..gate import dump_findings, gate_report, read_gate, unresolved_questions
from ..prompts import Roles, draft_prompt, review_prompt, revise_prompt
from ..providers.offline import stand_in_banner
from ..status import Status
from ..template import Template
from ..verdict import (
    APPROVED,
    BLOCKED,
    DISCUSS,
    Finding,
    Verdict,
    answer_state,
    parse_verdict,
    render_review,
    split_responses,
    table_cell,
)
from . import WorkflowContext


@dataclass(frozen=True)
class Design:
    """What one workflow's rounds draft, against what, and how its gate checks a draft."""

    kind: str  # "lld" or "issue": the requests' kinds are <kind>-draft, -review, -revise
    roles: Roles
    template: Template
    rubric: str
    check: Callable[[str, tuple[Finding, ...]], list[str]]  # (draft, open review findings) -> gate findings


@dataclass
class ReviewLog:
    """Every gate failure and every review, and the answers the drafts gave, for the filed design's appendix."""

    gates: list[tuple[int, list[str], int | None]] = field(default_factory=list)  # draft, findings, fixed by
    reviews: list[tuple[int, Verdict]] = field(default_factory=list)  # draft, verdict
    answers: dict[str, str] = field(default_factory=dict)

    def passed(self, draft_no: int, answers: dict[str, str]) -> None:
        self.gates = [(n, found, fixed or draft_no) for n, found, fixed in self.gates]
        self.answers.update(answers)

    def appendix(self) -> str:
        lines = ["## Appendix: Review Log", "",
                 "*Every finding of every round, the mechanical gate's (G) and the reviewers' (R), and what the "
                 "next draft did about it.*"]
        for n, found, fixed in self.gates:
            lines += ["", f"### Gate, draft {n} (failed)", "", "| ID | Finding | Addressed? |", "|----|----|----|"]
            done = f"YES - draft {fixed} passed the gate" if fixed else "NO - no later draft passed the gate"
            lines += [f"| G{n}.{i} | {table_cell(text, 400)} | {done} |" for i, text in enumerate(found, 1)]
        for index, (n, verdict) in enumerate(self.reviews, 1):
            lines += ["", f"### Review {index}: draft {n} ({verdict.outcome})", ""]
            if not verdict.findings:
                lines.append("No findings.")
                continue
            lines += ["| ID | Tier | Finding | Addressed? |", "|----|------|---------|------------|"]
            lines += [f"| {f.id} | {f.tier} | {table_cell(f.text, 400)} | {self._status(f, verdict)} |"
                      for f in verdict.findings]
        lines += ["", "### Review Summary", "", "| Review | Draft | Verdict | Findings |", "|---|---|---|---|"]
        for index, (n, verdict) in enumerate(self.reviews, 1):
            blocking = len(verdict.blocking)
            lines.append(f"| {index} | {n} | {verdict.verdict} | {len(verdict.findings)}"
                         f"{f' ({blocking} blocking)' if blocking else ''} |")
        return "\n".join(lines) + "\n"

    def _status(self, finding: Finding, verdict: Verdict) -> str:
        answer = self.answers.get(finding.id)
        if answer is None:
            return "NOTED - open when the design was approved" if verdict.approved else "NO - not answered"
        done, says = answer_state(answer)
        return f"{'YES' if done else 'NO'} - {table_cell(says, 400)}"


@dataclass
class Outcome:
    status: Status
    design: str = ""  # the approved draft without its review responses
    log: ReviewLog = field(default_factory=ReviewLog)


def run_rounds(ctx: WorkflowContext, design: Design, lineage: Path) -> Outcome:
    doc, rounds, log = ctx.document, ctx.settings.max_iterations, ReviewLog()
    draft = ctx.model_step("draft-1", ctx.drafter, ctx.request(f"{design.kind}-draft", draft_prompt(
        design.roles, doc, design.template)), lineage / "001-draft.md")
    open_findings: tuple[Finding, ...] = ()
    for n in range(1, rounds + 1):
        check = functools.partial(design.check, draft, open_findings)
        gate = read_gate(ctx.engine.step(f"gate-{n}", lambda: dump_findings(check())))  # noqa: B023 (run at once)
        if gate:
            ctx.keep(f"gate-{n}", lineage / f"{n:03d}-gate.md", gate_report(n, gate, stand_in_banner(ctx.drafter)))
            log.gates.append((n, gate, None))
            more = f" (all in {display_path(lineage, ctx.settings.root)}/{n:03d}-gate.md)" if len(gate) > 1 else ""
            ctx.say(f"gate {n}: draft {n} failed {len(gate)} check(s), no review asked: {gate[0]}{more}")
        else:
            design_text, answers = split_responses(draft)
            log.passed(n, answers)
            verdict = _review(ctx, design, draft, n, lineage)
            log.reviews.append((n, verdict))
            if verdict.approved:
                ctx.say(f"review {n}: APPROVED")
                return Outcome(Status.DONE, design_text, log)
            if verdict.outcome in (DISCUSS, BLOCKED):
                return _stop(ctx, verdict, n, lineage, log)
            open_findings = verdict.findings
            blocking = len(verdict.blocking)
            ctx.say(f"review {n}: REVISE ({len(verdict.findings)} finding(s)"
                    f"{f', {blocking} blocking' if blocking else ''}"
                    f"{'; the reviewer said APPROVED over a blocking finding' if verdict.verdict == APPROVED else ''})")
        if n < rounds:
            draft = ctx.model_step(f"revise-{n + 1}", ctx.drafter, ctx.request(
                f"{design.kind}-revise", revise_prompt(design.roles, doc, draft, design.template, gate,
                                                       open_findings), draft=draft, findings=open_findings),
                lineage / f"{n + 1:03d}-draft.md")
    if questions := unresolved_questions(gate):  # only a person can answer them: never filed, never revised again
        where = f"{display_path(lineage, ctx.settings.root)}/{rounds:03d}-gate.md"
        ctx.reason = (f"draft {rounds} leaves {len(questions)} open question(s) for a person: "
                      f"{'; '.join(questions)} (see {where}; answer them in the input)")
        ctx.say(f"draft {rounds} leaves open question(s) after {rounds} round(s): {'; '.join(questions)}")
        return Outcome(Status.NEEDS_HUMAN, log=log)
    last = "failed the gate" if gate else "was not approved"
    ctx.say(f"draft {rounds} {last} after {rounds} round(s) (max_iterations): read "
            f"{display_path(lineage, ctx.settings.root)}/{rounds:03d}-{'gate' if gate else 'verdict'}.md, then edit "
            "the input or raise max_iterations and run again (finished rounds are kept)")
    return Outcome(Status.NEEDS_REVISION, log=log)


def _review(ctx: WorkflowContext, design: Design, draft: str, n: int, lineage: Path) -> Verdict:
    prompt = review_prompt(design.roles, ctx.document, draft, design.template, design.rubric)
    answer = ctx.model_step(f"review-{n}", ctx.reviewer, ctx.request(f"{design.kind}-review", prompt, draft=draft),
                            lineage / f"{n:03d}-verdict.md", render=functools.partial(render_review, round_no=n))
    return parse_verdict(answer, n)


def _stop(ctx: WorkflowContext, verdict: Verdict, n: int, lineage: Path, log: ReviewLog) -> Outcome:
    """DISCUSS: a person must decide; BLOCKED: it cannot be done as asked. Either way the checkpoint keeps the
    rounds, and an edited input starts over."""
    where = f"{display_path(lineage, ctx.settings.root)}/{n:03d}-verdict.md"
    if verdict.outcome == DISCUSS:
        ctx.reason = f"review {n} asks a person to decide: {verdict.question()} (see {where}; answer it in the input)"
        ctx.say(f"review {n}: DISCUSS: {verdict.question()}")
        return Outcome(Status.NEEDS_HUMAN, log=log)
    ctx.reason = f"review {n} BLOCKED it: {verdict.question()} (see {where})"
    ctx.say(f"review {n}: BLOCKED: {verdict.question()}")
    return Outcome(Status.FAILED, log=log)
