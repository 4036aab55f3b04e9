"""The order requests are matched in: the visitors' routes before the API's."""

from __future__ import annotations

from typing import Any

from starlette.routing import Match


def _first_match(app: Any, path: str, kind: str = "http", method: str = "GET") -> int:
    """Index of the top-level route that takes the request."""
    scope = {"type": kind, "path": path, "root_path": "", "headers": [], "query_string": b"",
             "method": method}
    for index, route in enumerate(app.router.routes):
        match, _ = route.matches(dict(scope))
        if match == Match.FULL:
            return index
    raise AssertionError(f"nothing matches {path}")


def test_visitor_routes_are_matched_before_the_api(app: Any) -> None:
    # Matching walks the routes in order at a few microseconds each: the public traffic
    # of every tenant's site must not walk the API's hundreds first.
    conversation = "0c6d4a3e-8a6b-4b43-9d2c-1f1b2a3c4d5e"
    visitor = [
        _first_match(app, "/embed/v1/loader.js"),
        _first_match(app, "/embed/v1/sites/KEY/pages", method="POST"),
        _first_match(app, f"/embed/v1/sites/KEY/conversations/{conversation}/ws", "websocket"),
        _first_match(app, "/embed/v1/sites/KEY/calls", method="POST"),
    ]
    api = _first_match(app, f"/api/v1/conversations/{conversation}/ws", "websocket")
    assert max(visitor) < api
