"""PyPI's localstripe as the Stripe stand-in: its aiohttp app bound to 127.0.0.1 in a
process of its own, started from scratch for each test session.

localstripe keeps its objects in a pickle at a fixed path and reloads it at start: the
process started here never reads nor writes it (its store's disk methods are replaced), so
tests neither depend on nor clobber anyone's state.

What the platform calls that localstripe does not know is added to the stand-in here, to
Stripe's documented behaviour, and nothing more:
- ``Idempotency-Key``: a repeated key gets the first answer back, as from Stripe.
- Billing meters (``/v1/billing/meters``) and meter events (``/v1/billing/meter_events``):
  an event's ``identifier`` is counted once, as Stripe does; every request is kept so tests
  can count retries too.
- Trials that start ``trialing`` with their end; plans that name their ``meter`` and
  tiers priced in ``unit_amount_decimal``; products with a ``unit_label``; subscriptions
  of several items, updated with ``proration_behavior``.
- ``/_config/fail`` makes the next N requests to a path answer 500 (an outage), and
  ``/_config/requests`` lists the requests received (path, form, idempotency key).
The customer portal is not added: its call is checked against a recorded exchange.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

API_KEY = "sk_test_plateaux_localstripe"


@dataclass
class LocalStripe:
    url: str
    process: subprocess.Popen[bytes]

    def requests(self, path: str | None = None, method: str = "POST") -> list[dict[str, Any]]:
        """The requests received (changes, by default), oldest first."""
        found = httpx.get(f"{self.url}/_config/requests").json()
        return [r for r in found if (path is None or r["path"] == path)
                and r["method"] == method]

    def meter_events(self) -> list[dict[str, Any]]:
        """Every meter event request received, duplicates included."""
        return list(httpx.get(f"{self.url}/_config/meter_events").json())

    def fail(self, path: str, count: int) -> None:
        httpx.post(f"{self.url}/_config/fail", data={"path": path, "count": str(count)})

    def get(self, path: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}{path}",
                             headers={"Authorization": f"Bearer {API_KEY}"})
        response.raise_for_status()
        return dict(response.json())

    def post(self, path: str, data: dict[str, str]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}{path}", data=data,
                              headers={"Authorization": f"Bearer {API_KEY}"})
        response.raise_for_status()
        return dict(response.json())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_localstripe() -> Iterator[LocalStripe]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, str(port)], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"localstripe did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_config/requests", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("localstripe did not answer in 30 s")
            time.sleep(0.1)
        yield LocalStripe(url=url, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the stand-in's process ---------------------------------------------------------------


def _serve(port: int) -> None:  # pragma: no cover - runs in the stand-in's process
    import random
    import string
    from collections import defaultdict
    from decimal import Decimal

    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]

    def new_id(prefix: str) -> str:
        return prefix + "".join(random.choices(string.ascii_letters + string.digits, k=14))

    # Plans naming their meter; tiers priced in decimal cents (kept to whole cents here:
    # localstripe computes its invoices in whole cents).
    plan_init = resources.Plan.__init__

    def plan_with_meter(self: Any, *args: Any, meter: Any = None, **kwargs: Any) -> None:
        for tier in kwargs.get("tiers") or []:
            if "unit_amount_decimal" in tier and "unit_amount" not in tier:
                tier["unit_amount"] = int(Decimal(tier["unit_amount_decimal"]))
        plan_init(self, *args, **kwargs)
        self.meter = meter

    resources.Plan.__init__ = plan_with_meter  # type: ignore[method-assign]

    product_init = resources.Product.__init__

    def product_with_unit(self: Any, *args: Any, unit_label: Any = None, **kwargs: Any) -> None:
        product_init(self, *args, **kwargs)
        self.unit_label = unit_label

    resources.Product.__init__ = product_with_unit  # type: ignore[method-assign]

    # Subscriptions of several items: localstripe handles the first; the others are
    # added beside it and follow plan changes.
    subscription_init = resources.Subscription.__init__

    def subscription_with_items(self: Any, *args: Any, items: Any = None, **kwargs: Any) -> None:
        items = list(items or [])
        subscription_init(self, *args, items=items[:1] or None, **kwargs)
        for item in items[1:]:
            self.items._list.append(resources.SubscriptionItem(
                subscription=self.id, plan=item["plan"], metadata=item.get("metadata")))
        days = int(kwargs.get("trial_period_days") or 0)
        if days:  # localstripe leaves a trial "incomplete" with no end
            self.status, self.trial_start = "trialing", int(time.time())
            self.trial_end = self.trial_start + days * 86400

    resources.Subscription.__init__ = subscription_with_items  # type: ignore[method-assign]

    subscription_update = resources.Subscription._update

    def update_items(self: Any, items: Any = None, proration_behavior: Any = None,
                     **kwargs: Any) -> None:
        if kwargs.get("metadata"):  # taken but not applied by localstripe's update
            self.metadata = {**(self.metadata or {}), **kwargs["metadata"]}
        if items is None:
            return subscription_update(self, **kwargs)
        first = self.items._list[0]
        others = list(self.items._list[1:])
        mine = [item for item in items if item.get("id") == first.id]
        for item in mine:
            item.pop("id", None)
        subscription_update(self, items=mine or None, **kwargs)
        for item in items:
            for existing in others:
                if item.get("id") == existing.id and item.get("plan"):
                    existing.plan = resources.Plan._api_retrieve(item["plan"])
        self.items._list[1:] = others
        return None

    resources.Subscription._update = update_items  # type: ignore[method-assign]

    meters: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    counted: dict[str, dict[str, Any]] = {}
    received: list[dict[str, Any]] = []
    replies: dict[str, tuple[int, bytes]] = {}
    failures: dict[str, int] = defaultdict(int)

    @web.middleware
    async def stand_in(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_config/"):
            return await handler(request)  # type: ignore[no-any-return]
        form = dict(await request.post()) if request.method == "POST" else {}
        key = request.headers.get("Idempotency-Key")
        received.append({"method": request.method, "path": request.path,
                         "form": {k: str(v) for k, v in form.items()}, "idempotency_key": key})
        if failures[request.path] > 0:
            failures[request.path] -= 1
            return web.json_response({"error": {"type": "api_error",
                                                "message": "Simulated outage"}}, status=500)
        if key and (request.method, request.path, key) in replies:
            status, body = replies[(request.method, request.path, key)]  # type: ignore[index]
            return web.Response(status=status, body=body, content_type="application/json",
                                headers={"Idempotent-Replayed": "true"})
        response = await handler(request)
        if key and request.method == "POST" and isinstance(response, web.Response) \
                and response.status < 500:
            replies[(request.method, request.path, key)] = (  # type: ignore[index]
                response.status, bytes(response.body or b""))
        return response  # type: ignore[no-any-return]

    async def create_meter(request: web.Request) -> web.Response:
        data = server.unflatten_data(await request.post())
        if any(m["event_name"] == data.get("event_name") for m in meters.values()):
            return web.json_response({"error": {
                "type": "invalid_request_error",
                "message": "An active meter with this event_name already exists."}}, status=400)
        meter = {"id": new_id("mtr_"), "object": "billing.meter", "status": "active",
                 "created": int(time.time()), "livemode": False, **data}
        meters[meter["id"]] = meter
        return web.json_response(meter)

    async def list_meters(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "url": "/v1/billing/meters",
                                  "has_more": False, "data": list(meters.values())})

    async def create_meter_event(request: web.Request) -> web.Response:
        data = server.unflatten_data(await request.post())
        if not any(m["event_name"] == data.get("event_name") for m in meters.values()):
            return web.json_response({"error": {
                "type": "invalid_request_error",
                "message": "No active meter was found for this event_name."}}, status=400)
        event = {"object": "billing.meter_event", "created": int(time.time()),
                 "livemode": False, "event_name": data["event_name"],
                 "identifier": data.get("identifier") or new_id("mev_"),
                 "payload": data.get("payload") or {},
                 "timestamp": int(data.get("timestamp") or time.time())}
        events.append(event)
        counted.setdefault(event["identifier"], event)
        return web.json_response(event)

    async def event_summaries(request: web.Request) -> web.Response:
        meter = meters.get(request.match_info["id"])
        if meter is None:
            return web.json_response({"error": {"type": "invalid_request_error",
                                                "message": "No such meter"}}, status=404)
        customer = request.query.get("customer")
        start = int(request.query.get("start_time", 0))
        end = int(request.query.get("end_time", 2**40))
        total = sum(Decimal(e["payload"].get("value", "0")) for e in counted.values()
                    if e["event_name"] == meter["event_name"]
                    and e["payload"].get("stripe_customer_id") == customer
                    and start <= e["timestamp"] < end)
        summary = {"object": "billing.meter_event_summary", "meter": meter["id"],
                   "aggregated_value": float(total), "start_time": start, "end_time": end,
                   "id": new_id("mtrusg_"), "livemode": False}
        return web.json_response({"object": "list", "has_more": False, "data": [summary],
                                  "url": f"/v1/billing/meters/{meter['id']}/event_summaries"})

    async def config_requests(request: web.Request) -> web.Response:
        return web.json_response(received)

    async def config_meter_events(request: web.Request) -> web.Response:
        return web.json_response(events)

    async def config_fail(request: web.Request) -> web.Response:
        data = await request.post()
        failures[str(data["path"])] = int(str(data["count"]))
        return web.Response()

    app = web.Application(middlewares=[*server.app.middlewares, stand_in])
    app.on_response_prepare.extend(server.app.on_response_prepare)
    app.router.add_post("/v1/billing/meters", create_meter)
    app.router.add_get("/v1/billing/meters", list_meters)
    app.router.add_post("/v1/billing/meter_events", create_meter_event)
    app.router.add_get("/v1/billing/meters/{id}/event_summaries", event_summaries)
    app.router.add_get("/_config/requests", config_requests)
    app.router.add_get("/_config/meter_events", config_meter_events)
    app.router.add_post("/_config/fail", config_fail)
    for resource in server.app.router.resources():
        for route in resource:
            info = resource.get_info()
            path = info.get("path") or info.get("formatter")
            if path:
                app.router.add_route(route.method, path, route.handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
