"""Draft, gate, review, revise: the rounds both workflows run, and the review log they keep.

Each round is one draft: the mechanical gate checks it (a checkpointed step, no model call); a draft that fails
goes back to the drafter with the gate's findings and no review is paid for it. A draft that passes is reviewed:
only the schema's JSON may approve, and only with no blocking or high finding open; a reply that cannot be read
is asked again once, and ends the item needs-human if it still cannot. DISCUSS ends the item needs-human with the
reviewer's question; BLOCKED fails it with the reviewer's reason; anything else is a revision that must answer
every finding by id. Each review after the first confirms or reopens the previous one's findings: a blocking
finding reopened in two reviews running ends the item needs-human, naming it. `max_iterations` drafts at most;
a last draft that still leaves open questions `- [ ]` ends needs-human naming them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentos_jobs.core.errors import UnreadableReview
from agentos_jobs.core.fsutil import display_path
from agentos_jobs.core.status import Status
from agentos_jobs.core.text import one_line
from agentos_jobs.design.gate import dump_findings, gate_report, read_gate, unresolved_questions
from agentos_jobs.design.offline import stand_in_banner
from agentos_jobs.design.prompts import Prompt, Roles, draft_prompt, repair_prompt, review_prompt, revise_prompt
from agentos_jobs.design.template import Template
from agentos_jobs.design.verdict import (
    APPROVED,
    BLOCKED,
    DISCUSS,
    Finding,
    Verdict,
    answer_state,
    parse_verdict,
    render_review,
    shown,
    split_responses,
    table_cell,
)
from agentos_jobs.design.workflows.base import WorkflowContext


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
            later = self.reviews[index][1] if index < len(self.reviews) else None
            lines += ["| ID | Tier | Finding | Addressed? |", "|----|------|---------|------------|"]
            lines += [f"| {f.id} | {f.tier} | {table_cell(shown(f), 400)} | {self._status(f, verdict, index, later)} |"
                      for f in verdict.findings]
        lines += ["", "### Review Summary", "", "| Review | Draft | Verdict | Findings |", "|---|---|---|---|"]
        for index, (n, verdict) in enumerate(self.reviews, 1):
            said = f" (said {verdict.verdict})" if verdict.verdict != verdict.outcome else ""
            counts = [f"{len(items)} {name}" for name, items in (
                ("blocking", verdict.blocking), ("reopened", [f for f in verdict.findings if f.reopens])) if items]
            counted = f" ({', '.join(counts)})" if counts else ""
            lines.append(f"| {index} | {n} | {verdict.outcome}{said} | {len(verdict.findings)}{counted} |")
        return "\n".join(lines) + "\n"

    def _status(self, finding: Finding, verdict: Verdict, index: int, later: Verdict | None) -> str:
        """What the drafter answered, and whether the next review reopened it."""
        answer = self.answers.get(finding.id)
        done, says = answer_state(answer) if answer is not None else (False, "not answered")
        if later is None:
            if answer is None:
                return "NOTED - open when the design was approved" if verdict.approved else "NO - not answered"
            return f"{'YES' if done else 'NO'} - {table_cell(says, 400)}"
        again = next((f.id for f in later.findings if f.reopens == finding.id), None)
        if again:
            return f"NO - reopened by review {index + 1} as {again} (the draft said: {table_cell(says, 400)})"
        return f"{'YES' if done else 'NO'} - {table_cell(says, 400)}; review {index + 1} did not reopen it"

    def reopened_twice(self, verdict: Verdict) -> tuple[Finding, Finding] | None:
        """A blocking finding of `verdict` that reopens a finding which itself reopened an earlier one: that
        first finding, and this one."""
        earlier = {f.id: f for _, review in self.reviews for f in review.findings}
        for finding in verdict.blocking:
            if (parent := earlier.get(finding.reopens)) and (first := earlier.get(parent.reopens)):
                return first, finding
        return None


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
            try:
                verdict = _review(ctx, design, design_text, n, lineage, open_findings, answers)
            except UnreadableReview as exc:
                return _unreadable(ctx, str(exc), n, lineage, log)
            log.reviews.append((n, verdict))
            if verdict.approved:
                ctx.say(f"review {n}: APPROVED")
                return Outcome(Status.DONE, design_text, log)
            if verdict.outcome in (DISCUSS, BLOCKED):
                return _stop(ctx, verdict, n, lineage, log)
            if stuck := log.reopened_twice(verdict):
                return _stuck(ctx, stuck, n, lineage, log)
            open_findings = verdict.findings
            holding = [f"{len(tier)} {name}" for name, tier in (
                ("blocking", verdict.blocking), ("high", [f for f in verdict.findings if f.tier == "high"])) if tier]
            held = f", {', '.join(holding)}" if holding else ""
            ctx.say(f"review {n}: REVISE ({len(verdict.findings)} finding(s){held}"
                    f"{'; the reviewer said APPROVED over them' if verdict.verdict == APPROVED else ''})")
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
    where = f"{display_path(lineage, ctx.settings.root)}/{rounds:03d}-{'gate' if gate else 'verdict'}.md"
    advice = f"read {where}, then edit the input or raise max_iterations and run again (finished rounds are kept)"
    if gate:  # never reviewed: the summary says what held it, not that a reviewer refused
        ctx.reason = (f"draft {rounds} failed the gate after {rounds} round(s) (max_iterations), no review asked: "
                      f"{gate[0]}{f' and {len(gate) - 1} more' if len(gate) > 1 else ''}; {advice}")
    else:
        ctx.say(f"draft {rounds} was not approved after {rounds} round(s) (max_iterations): {advice}")
    return Outcome(Status.NEEDS_REVISION, log=log)


def _review(ctx: WorkflowContext, design: Design, draft: str, n: int, lineage: Path, earlier: tuple[Finding, ...],
            answers: dict[str, str]) -> Verdict:
    """The review of draft n (shown the previous review's findings and the drafter's answers); a reply that
    cannot be read is asked again once, with what was wrong, as a step of its own. Raises UnreadableReview."""
    prompt = review_prompt(design.roles, ctx.document, draft, design.template, design.rubric, earlier, answers)
    banner = stand_in_banner(ctx.reviewer)

    def ask(step: str, asked: Prompt, name: str) -> str:
        return ctx.model_step(step, ctx.reviewer, ctx.request(f"{design.kind}-review", asked, draft=draft,
                                                             findings=earlier), lineage / name,
                              render=lambda text: "\n\n".join(filter(None, [banner, render_review(text, n, earlier)])))

    answer = ask(f"review-{n}", prompt, f"{n:03d}-verdict.md")
    try:
        return parse_verdict(answer, n, earlier)
    except UnreadableReview as exc:
        ctx.say(f"review {n}: the reply cannot be used ({exc}); asking again")
        repaired = ask(f"review-{n}-repair", repair_prompt(prompt, answer, str(exc)), f"{n:03d}-verdict-repair.md")
        return parse_verdict(repaired, n, earlier)


def _unreadable(ctx: WorkflowContext, problem: str, n: int, lineage: Path, log: ReviewLog) -> Outcome:
    """A review that could not be read even when asked again: never approved; a person reads it. The checkpoint
    replays both replies on every run, so asking afresh (with another reviewer model, say) takes a clean."""
    where = f"{display_path(lineage, ctx.settings.root)}/{n:03d}-verdict.md and {n:03d}-verdict-repair.md"
    ctx.reason = (f"review {n} could not be read, even when asked again: {problem} (both replies are in {where}; "
                  "judge the draft yourself, or set a reviewer model that keeps to structured output and run "
                  f"'doit clean {ctx.item.workflow}:{ctx.item.id}' to draft the item afresh)")
    ctx.say(f"review {n}: still cannot be used ({problem}): needs a person, never approved")
    return Outcome(Status.NEEDS_HUMAN, log=log)


def _stuck(ctx: WorkflowContext, stuck: tuple[Finding, Finding], n: int, lineage: Path, log: ReviewLog) -> Outcome:
    """A blocking finding the drafts do not fix: more rounds would be paid for nothing."""
    first, now = stuck
    where = f"{display_path(lineage, ctx.settings.root)}/{n:03d}-verdict.md"
    ctx.reason = (f"review {n} reopened blocking finding {first.id} for the second review running (now {now.id}): "
                  f"{one_line(now.text, 300)} (see {where}; settle it in the input, then run again)")
    ctx.say(f"review {n}: blocking finding {first.id} reopened twice running (as {now.id}): needs a person")
    return Outcome(Status.NEEDS_HUMAN, log=log)


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
