"""Call scripts: checked when written (branches lead somewhere, no loop), offered for the
contact's queue or campaign, followed by the agent with answers checked and branches
taken, kept with the contact, its case and the person's timeline; later edits leave past
runs as they were."""

from __future__ import annotations

import httpx

from plateaux.platform.services import Services
from plateaux.tenants.models import Role
from tests.channels.chat_world import assigned_conversation
from tests.helpdesk.world import API, DESK, desk_world, problem
from tests.support.factories import TenantFactory, bearer

STEPS = [
    {"id": "hello", "kind": "say", "text": "Thank the customer for calling", "next": "owner"},
    {"id": "owner", "kind": "question", "text": "Are you the account holder?",
     "answer": "yes_no", "choices": [{"value": "no", "label": "No", "next": "bye"}],
     "next": "plan"},
    {"id": "plan", "kind": "question", "text": "Which plan?", "answer": "choice",
     "choices": [{"value": "pro", "label": "Pro", "next": "seats"},
                 {"value": "free", "label": "Free", "next": "bye"}]},
    {"id": "seats", "kind": "question", "text": "How many seats?", "answer": "number",
     "next": "bye"},
    {"id": "bye", "kind": "end", "text": "Thank you, goodbye"},
]


async def test_scripts_written_offered_followed_and_kept(
        desk: httpx.AsyncClient, desk_services: Services, desk_tenants: TenantFactory) -> None:
    world = await desk_world(desk_services, desk_tenants, desk)
    admin, agent = world.admin, world.agent
    queue_id = str(world.chat.queue.id)
    loop = [{"id": "a", "kind": "say", "text": "A", "next": "b"},
            {"id": "b", "kind": "say", "text": "B", "next": "a"}]
    assert "loops" in str(problem(await desk.post(f"{DESK}/scripts", headers=admin, json={
        "name": "Loop", "steps": loop}), 422)["detail"])
    assert "no step" in str(problem(await desk.post(f"{DESK}/scripts", headers=admin, json={
        "name": "Lost", "steps": [{"id": "a", "kind": "say", "text": "A", "next": "z"}]}),
        422)["detail"])
    problem(await desk.post(f"{DESK}/scripts", headers=agent, json={
        "name": "Mine", "steps": STEPS}), 403)
    created = await desk.post(f"{DESK}/scripts", headers=admin, json={
        "name": "Upgrade call", "queue_ids": [queue_id], "steps": STEPS})
    assert created.status_code == 201, created.text
    script = created.json()
    assert (script["start"], script["version"]) == ("hello", 1)
    elsewhere = await desk.post(f"{DESK}/scripts", headers=admin, json={
        "name": "Winter campaign", "campaigns": ["winter"],
        "steps": [{"id": "x", "kind": "end", "text": "Hi"}]})
    assert elsewhere.status_code == 201, elsewhere.text

    chat = await assigned_conversation(desk_services, desk, world.chat, text="Upgrade please")
    case = await desk.post(f"{DESK}/cases", headers=agent, json={"contact_id": chat["contact_id"]})
    panel = (await desk.get(f"{DESK}/contacts/{chat['contact_id']}/panel", headers=agent)).json()
    assert [s["name"] for s in panel["scripts"]] == ["Upgrade call"]  # not the campaign's
    run = await desk.post(f"{DESK}/script-runs", headers=agent, json={
        "script_id": script["id"], "contact_id": chat["contact_id"]})
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    assert run.json()["case_id"] == case.json()["id"]  # the contact's case

    async def answer(step: str, value: object, *, headers: dict[str, str] = agent
                     ) -> httpx.Response:
        return await desk.post(f"{DESK}/script-runs/{run_id}/answers", headers=headers,
                               json={"step": step, "value": value})

    assert (await answer("hello", None)).json()["current"] == "owner"
    problem(await answer("plan", "pro"), 422)  # not there yet
    problem(await answer("owner", "maybe"), 422)
    assert (await answer("owner", "Yes")).json()["current"] == "plan"
    problem(await answer("plan", "gold"), 422)
    assert (await answer("plan", "pro")).json()["current"] == "seats"
    problem(await answer("seats", "a few"), 422)
    # Back a step: what followed it is answered again.
    back = await answer("plan", "free")
    assert (back.json()["current"], back.json()["answers"]) == ("bye", {
        "owner": "yes", "plan": "free"})
    assert (await answer("plan", "pro")).json()["current"] == "seats"
    assert (await answer("seats", "12")).json()["current"] == "bye"
    # Another agent may not answer for this one; a supervisor may.
    other = await desk_tenants.add_user(world.chat.world, role=Role.AGENT)
    problem(await answer("bye", None, headers=await bearer(desk, world.chat.world, other.email)),
            403)
    done = await answer("bye", None, headers=world.supervisor_headers)
    assert done.json()["status"] == "completed" and done.json()["current"] is None
    assert done.json()["answers"] == {"owner": "yes", "plan": "pro", "seats": 12}
    assert done.json()["path"] == ["hello", "owner", "plan", "seats", "bye"]
    problem(await answer("bye", None), 409)

    # Kept with the case and on the person's timeline.
    detail = (await desk.get(f"{DESK}/cases/{case.json()['id']}", headers=agent)).json()
    assert detail["runs"][0]["id"] == run_id
    script_event = next(e for e in detail["events"] if e["kind"] == "script")
    assert "Which plan?: pro" in script_event["body"]
    person = case.json()["person_id"]
    timeline = (await desk.get(f"{API}/crm/people/{person}/timeline", headers=agent)).json()
    item = next(i for i in timeline if i["kind"] == "script")
    assert item["title"] == "Script: Upgrade call" and "How many seats?: 12" in item["summary"]
    # A new version of the script leaves the run as it was answered.
    edited = await desk.patch(f"{DESK}/scripts/{script['id']}", headers=admin, json={
        "steps": [{"id": "hello", "kind": "end", "text": "Changed"}]})
    assert edited.json()["version"] == 2
    kept = (await desk.get(f"{DESK}/script-runs/{run_id}", headers=agent)).json()
    assert kept["script_version"] == 1 and len(kept["steps"]) == 5
