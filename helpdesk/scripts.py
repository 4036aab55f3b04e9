"""Call scripts: the tenant writes steps (things to say, questions, an end) joined by
branches (an answer leads to its own next step); the agent follows one in the console on
a contact of the script's queues or campaigns, and the answers are kept with the contact
and its case.

A script is checked when saved: step ids unique, every branch leading to a step that
exists, no loop (a script always ends), question steps with an answer type. A run keeps a
copy of the steps it followed, so editing the script never changes past answers.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.helpdesk import events
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.cases import actor_of, contact_of
from plateaux.helpdesk.models import Case, Script, ScriptRun
from plateaux.helpdesk.schemas import AnswerIn, RunIn, ScriptIn, ScriptPatch, StepIn
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.errors import Conflict, Forbidden, NotFound, UnprocessableContent
from plateaux.platform.types import utcnow
from plateaux.routing.models import Contact
from plateaux.tenants.service import audit

NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
YES = {"yes", "true", "1", "oui"}
NO = {"no", "false", "0", "non"}


def check_steps(steps: list[StepIn], start: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The start and the steps as stored; UnprocessableContent naming the first problem."""
    ids = [s.id for s in steps]
    if len(set(ids)) != len(ids):
        raise UnprocessableContent("Each step needs its own id.")
    known = set(ids)
    first = start or ids[0]
    if first not in known:
        raise UnprocessableContent(f"The script starts at '{first[:40]}', which is no step.")
    graph: dict[str, list[str]] = {}
    for step in steps:
        targets = [t for t in [step.next, *(c.next for c in step.choices)] if t]
        for target in targets:
            if target not in known:
                raise UnprocessableContent(
                    f"Step '{step.id}' leads to '{target[:40]}', which is no step.")
        if step.kind == "question":
            if step.answer is None:
                raise UnprocessableContent(f"Question '{step.id}' needs an answer type.")
            if step.answer == "choice" and len(step.choices) < 2:
                raise UnprocessableContent(f"Question '{step.id}' needs at least two choices.")
            values = [c.value for c in step.choices]
            if len(set(values)) != len(values):
                raise UnprocessableContent(f"Question '{step.id}' has the same choice twice.")
            if step.answer == "yes_no" and not set(values) <= {"yes", "no"}:
                raise UnprocessableContent(
                    f"A yes/no question's branches are 'yes' and 'no' ('{step.id}').")
            if step.answer not in ("choice", "yes_no") and step.choices:
                raise UnprocessableContent(f"Only choice and yes/no questions have choices "
                                           f"('{step.id}').")
        elif step.answer is not None or step.choices:
            raise UnprocessableContent(f"Step '{step.id}' says something: it has no answer.")
        if step.kind == "end" and step.next:
            raise UnprocessableContent(f"The end step '{step.id}' leads nowhere.")
        graph[step.id] = targets
    _check_no_loop(graph, first)
    return first, [s.model_dump() for s in steps]


def _check_no_loop(graph: dict[str, list[str]], start: str) -> None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in graph.get(node, []):
            if state.get(target) == 1:
                loop = " → ".join([*path[path.index(target):], target])
                raise UnprocessableContent(f"The script loops: {loop[:200]}.")
            if state.get(target) is None:
                visit(target, [*path, target])
        state[node] = 2

    visit(start, [start])


async def create_script(session: AsyncSession, subject: Subject, body: ScriptIn) -> Script:
    if any(s.name == body.name.strip() for s in await repo.scripts(session, subject.tenant_id)):
        raise Conflict("A script has this name already.")
    start, steps = check_steps(body.steps, body.start)
    script = Script(tenant_id=subject.tenant_id, name=body.name.strip(),
                    description=body.description.strip(), active=body.active,
                    queue_ids=[str(q) for q in body.queue_ids], campaigns=body.campaigns,
                    language=body.language, start=start, steps=steps)
    session.add(script)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.script_created",
          target=script.name)
    return script


async def update_script(session: AsyncSession, subject: Subject, script: Script,
                        body: ScriptPatch) -> Script:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name") and changes["name"].strip() != script.name:
        if any(s.name == changes["name"].strip() for s in await repo.scripts(
                session, subject.tenant_id)):
            raise Conflict("A script has this name already.")
        script.name = changes["name"].strip()
    if body.steps is not None or changes.get("start"):
        steps = body.steps if body.steps is not None else [
            StepIn.model_validate(s) for s in script.steps]
        script.start, script.steps = check_steps(steps, changes.get("start") or (
            script.start if any(s.id == script.start for s in steps) else None))
        script.version += 1
    for name in ("description", "active", "language"):
        if name in changes and changes[name] is not None:
            setattr(script, name, changes[name])
    if changes.get("queue_ids") is not None:
        script.queue_ids = [str(q) for q in changes["queue_ids"]]
    if changes.get("campaigns") is not None:
        script.campaigns = changes["campaigns"]
    script.updated_at = utcnow()
    session.add(script)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.script_updated",
          target=script.name)
    return script


async def delete_script(session: AsyncSession, subject: Subject, script: Script) -> None:
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.script_deleted",
          target=script.name)
    await session.delete(script)
    await session.flush()


async def scripts_for(session: AsyncSession, contact: Contact) -> list[Script]:
    """The active scripts for this contact: those of its queue or campaign first, then
    those meant for every contact (no queue, no campaign)."""
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    campaign = attributes.get("campaign")
    queue = str(contact.queue_id) if contact.queue_id else None
    targeted, general = [], []
    for script in await repo.scripts(session, contact.tenant_id, active_only=True):
        if (queue and queue in (script.queue_ids or [])) or (
                isinstance(campaign, str) and campaign in (script.campaigns or [])):
            targeted.append(script)
        elif not script.queue_ids and not script.campaigns:
            general.append(script)
    return targeted + general


# --- runs ------------------------------------------------------------------------------------


async def start_run(session: AsyncSession, subject: Subject, body: RunIn) -> ScriptRun:
    tenant_id = subject.tenant_id
    try:
        script = await repo.get_owned(session, Script, tenant_id, body.script_id, "Script")
    except NotFound as error:
        raise UnprocessableContent("Unknown script.") from error
    if not script.active:
        raise UnprocessableContent("This script is not in use.")
    contact = await contact_of(session, tenant_id, body.contact_id) if body.contact_id else None
    case: Case | None = None
    if body.case_id is not None:
        try:
            case = await repo.get_case(session, tenant_id, body.case_id)
        except NotFound as error:
            raise UnprocessableContent("Unknown case.") from error
    elif contact is not None:
        link = await repo.link_of_contact(session, tenant_id, contact.id)
        case = await repo.get_case(session, tenant_id, link.case_id) if link else None
    if contact is None and case is None:
        raise UnprocessableContent("A script runs on a contact or a case.")
    agent_id, agent_name = await actor_of(session, subject)
    run = ScriptRun(tenant_id=tenant_id, script_id=script.id, script_name=script.name,
                    script_version=script.version, start=script.start,
                    steps=list(script.steps), contact_id=contact.id if contact else None,
                    case_id=case.id if case else None,
                    person_id=(contact.person_id if contact else None) or (
                        case.person_id if case else None),
                    agent_id=agent_id, agent_name=agent_name, current=script.start,
                    path=[script.start])
    session.add(run)
    await session.flush()
    return run


def _may_answer(subject: Subject, run: ScriptRun) -> None:
    if subject.kind == "user" and subject.user_id != run.agent_id and not subject.has(
            Scope.CONTACTS_WRITE):
        raise Forbidden("Only the agent following this script, or a supervisor, may.")


def _checked(step: dict[str, Any], value: Any) -> Any:
    kind = step.get("answer")
    empty = value is None or (isinstance(value, str) and not value.strip())
    if step["kind"] != "question":
        return None
    if empty:
        if step.get("required", True):
            raise UnprocessableContent("This question needs an answer.")
        return None
    text = str(value).strip()
    if kind == "choice":
        if text not in {c["value"] for c in step.get("choices", [])}:
            raise UnprocessableContent("Choose one of the answers offered.")
        return text
    if kind == "yes_no":
        lowered = text.lower()
        if lowered in YES:
            return "yes"
        if lowered in NO:
            return "no"
        raise UnprocessableContent("Answer yes or no.")
    if kind == "number":
        if isinstance(value, bool) or not NUMBER.match(text):
            raise UnprocessableContent("The answer is a number.")
        number = float(text)
        return int(number) if number.is_integer() else number
    if kind == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError as error:
            raise UnprocessableContent("The answer is a date (YYYY-MM-DD).") from error
    if len(text) > 2000:
        raise UnprocessableContent("Answers are at most 2000 characters.")
    return text


async def answer(session: AsyncSession, subject: Subject, run: ScriptRun,
                 body: AnswerIn) -> ScriptRun:
    """Answer the current step (or one already passed: the agent went back, and what
    followed it is answered again) and move along its branch."""
    _may_answer(subject, run)
    if run.status != "in_progress":
        raise Conflict("This script is finished.")
    steps = {s["id"]: s for s in run.steps}
    if body.step not in steps or body.step not in (run.path or []):
        raise UnprocessableContent("Answer the step the script is at.")
    step = steps[body.step]
    value = _checked(step, body.value)
    path = list(run.path or [])
    path = path[:path.index(body.step) + 1]
    answers = {k: v for k, v in (run.answers or {}).items() if k in path[:-1]}
    if step["kind"] == "question":
        answers[body.step] = value
    following = next((c.get("next") for c in step.get("choices", [])
                      if value is not None and c["value"] == value and c.get("next")), None)
    following = following or (None if step["kind"] == "end" else step.get("next"))
    run.answers = answers
    if following is None:
        run.path, run.current = path, None
        run.status = "completed"
        run.completed_at = utcnow()
        await _completed(session, run)
    else:
        run.path, run.current = [*path, following], following
    run.updated_at = utcnow()
    session.add(run)
    await session.flush()
    return run


async def abandon(session: AsyncSession, subject: Subject, run: ScriptRun) -> ScriptRun:
    _may_answer(subject, run)
    if run.status != "in_progress":
        raise Conflict("This script is finished.")
    run.status, run.current, run.updated_at = "abandoned", None, utcnow()
    session.add(run)
    await session.flush()
    return run


async def _completed(session: AsyncSession, run: ScriptRun) -> None:
    if run.case_id is None:
        return
    case = await repo.get_case(session, run.tenant_id, run.case_id)
    questions = {s["id"]: s["text"] for s in run.steps}
    summary = "\n".join(f"{questions.get(k, k)}: {v}" for k, v in run.answers.items()
                        if v is not None)
    events.record(session, case, "script", actor_id=run.agent_id, actor_name=run.agent_name,
                  body=summary, script=run.script_name, run_id=str(run.id))
    case.updated_at = utcnow()
    session.add(case)


def run_id(value: str) -> uuid.UUID:
    return uuid.UUID(value)
