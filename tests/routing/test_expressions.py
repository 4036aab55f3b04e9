"""The workflow expression language: what it accepts, what it refuses, what it cannot do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plateaux.routing.expressions import ExpressionError, compile_expression, matches

ATTRS = {
    "language": "fr",
    "tier": "gold",
    "priority": 3,
    "amount": 120.5,
    "customer": {"tier": "platinum", "tags": ["vip", "eu"]},
    "pages": ["/pricing", "/checkout"],
    "returning": True,
}


@pytest.mark.parametrize(("expression", "expected"), [
    ("language == 'fr'", True),
    ('language != "fr"', False),
    ("priority >= 3 and amount < 200", True),
    ("priority > 3 or tier == 'gold'", True),
    ("not (tier == 'gold')", False),
    ("language in ['fr', 'en']", True),
    ("language not in ['de', 'es']", True),
    ("customer.tier == 'platinum'", True),
    ("customer.tags contains 'vip'", True),
    ("pages contains '/checkout' and returning == true", True),
    ("missing == null", True),
    ("missing > 3", False),  # an absent attribute never satisfies an order comparison
    ("'3' < 4", False),  # neither do values of different kinds
    ("tier == 'gold' and language == 'en' or priority == 3", True),  # and binds tighter
    ("not tier == 'gold' or true", True),
    ("", True),
])
def test_evaluation(expression: str, expected: bool) -> None:
    assert matches(expression, ATTRS) is expected


@pytest.mark.parametrize(("expression", "position"), [
    ("language ==", 11),
    ("(tier == 'gold'", 15),
    ("tier = 'gold'", 5),
    ("tier == 'gold' extra", 15),
    ("__import__('os').system('x')", 16),
    ("tier == 'gold' ; drop", 15),
])
def test_errors_say_where(expression: str, position: int) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(expression)
    assert raised.value.position == position


def test_nothing_executes_and_nesting_is_bounded() -> None:
    # Attribute access stays inside the data: no dunder walk to Python objects.
    assert matches("language.__class__ == null", ATTRS)
    with pytest.raises(ExpressionError):
        compile_expression("not " * 200 + "true")
    with pytest.raises(ExpressionError):
        compile_expression("(" * 100 + "true" + ")" * 100)
    with pytest.raises(ExpressionError):
        compile_expression("a == 'x' or " * 300 + "true")


@given(st.text(max_size=80))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        node = compile_expression(text)
    except ExpressionError:
        return
    matches(text, ATTRS) if node is not None else None
