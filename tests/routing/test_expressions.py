"""The workflow expression language: what it accepts, what it refuses, what it cannot do."""

from __future__ import annotations

import builtins

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plateaux.routing.expressions import (
    BoolOp,
    Compare,
    ExpressionError,
    Not,
    compile_expression,
    matches,
    parse,
)

ATTRS = {
    "language": "fr",
    "tier": "gold",
    "priority": 3,
    "amount": 120.5,
    "customer": {"tier": "platinum", "tags": ["vip", "eu"]},
    "pages": ["/pricing", "/checkout"],
    "skills": {"french": 4, "billing": 2},
    "returning": True,
    "zero": 0,
}


@pytest.mark.parametrize(("expression", "expected"), [
    ("language == 'fr'", True),
    ('language != "fr"', False),
    ("priority >= 3 and amount < 200", True),
    ("priority > 3 or tier == 'gold'", True),
    ("not (tier == 'gold')", False),
    ("language in ['fr', 'en']", True),
    ("language not in ['de', 'es']", True),
    ("'fr' in language", True),  # substring
    ("'french' in skills", True),  # a mapping's keys
    ("skills.french >= 4", True),
    ("customer.tier == 'platinum'", True),
    ("customer.tags contains 'vip'", True),
    ("pages contains '/checkout' and returning == true", True),
    ("amount == 120.5 and priority == 3.0", True),
    ("priority == -3 or priority > -1", True),
    ("missing == null", True),
    ("missing", False),
    ("zero", False),
    ("returning", True),
    ("missing > 3", False),  # an absent attribute never satisfies an order comparison
    ("'3' < 4", False),  # nor do values of different kinds
    ("'abc' < 'abd'", True),
    ("true == 1", False),  # booleans are not numbers
    ("returning in [1, 2]", False),
    ("[1, 2] == [1, 2]", True),
    ("[] == []", True),
    ("customer.tags == ['vip', 'eu']", True),
    ("language.length == null", True),  # paths only ever read mappings
    ("1 in 'abc'", False),
    ("language contains 3", False),
    ('"it\\\'s" == "it\'s"', True),  # escapes
    ("", True),
    ("   ", True),
])
def test_evaluation(expression: str, expected: bool) -> None:
    assert matches(expression, ATTRS) is expected


def test_precedence_not_then_and_then_or() -> None:
    # or < and < not < comparison
    tree = parse("a == 1 or b == 2 and not c == 3")
    assert isinstance(tree, BoolOp) and tree.op == "or"
    right = tree.operands[1]
    assert isinstance(right, BoolOp) and right.op == "and"
    assert isinstance(right.operands[1], Not)
    assert isinstance(right.operands[1].operand, Compare)
    assert matches("tier == 'gold' and language == 'en' or priority == 3", ATTRS)
    assert not matches("tier == 'gold' and (language == 'en' or priority == 4)", ATTRS)
    assert matches("not tier == 'silver' and not missing", ATTRS)
    assert matches("not not returning", ATTRS)


@pytest.mark.parametrize(("expression", "position", "message"), [
    ("language ==", 11, "unexpected end of expression"),
    ("(tier == 'gold'", 15, "expected ')'"),
    ("tier = 'gold'", 5, "unexpected character '='"),
    ("tier == 'gold' extra", 15, "unexpected 'extra'"),
    ("tier == 'gold' ; drop", 15, "unexpected character ';'"),
    ("__import__('os').system('x')", 16, "unexpected character '.'"),
    ("tier == \"gold", 8, "unterminated string"),
    ("a == 1 == 2", 7, "unexpected '=='"),
    ("[1, 2", 5, "expected ']'"),
    ("in", 0, "unexpected 'in'"),
    ("a and", 5, "unexpected end of expression"),
])
def test_errors_say_what_and_where(expression: str, position: int, message: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(expression)
    assert raised.value.position == position
    assert message in str(raised.value)
    assert f"at character {position + 1}" in str(raised.value)


def test_nesting_and_length_are_bounded() -> None:
    for deep in ("not " * 200 + "true", "(" * 100 + "true" + ")" * 100,
                 "[" * 1000 + "]" * 1000, "a in " + "[" * 60 + "]" * 60):
        with pytest.raises(ExpressionError, match="nested too deeply"):
            compile_expression(deep)
    with pytest.raises(ExpressionError, match="longer than"):
        compile_expression("a == 'x' or " * 300 + "true")
    # Long flat chains are fine: and/or are parsed iteratively.
    assert matches(" or ".join(["m == 1"] * 150 + ["true"]), ATTRS)


def test_no_code_can_run() -> None:
    calls: list[str] = []
    saved = {name: getattr(builtins, name) for name in ("eval", "exec", "compile")}

    def spy(name: str) -> object:
        def forbidden(*args: object, **kwargs: object) -> object:
            calls.append(name)
            return saved[name](*args, **kwargs)
        return forbidden

    for name in saved:
        setattr(builtins, name, spy(name))
    try:
        compile_expression.cache_clear()
        # Names are only ever looked up in the attribute mappings, never as Python objects.
        assert matches("__class__ == null and __builtins__ == null", ATTRS)
        assert matches("customer.__class__.__init__ == null", ATTRS)
        assert not matches("eval == 'x' or exec or __import__", ATTRS)
        refused = 0
        for attempt in ["__import__('os')", "open('/etc/passwd')", "language.upper()",
                        "1; import os", "lambda: 1", "x[0]", "f'{x}'", "a if b else c"]:
            try:
                compile_expression(attempt)
            except ExpressionError:
                refused += 1
    finally:
        for name, original in saved.items():
            setattr(builtins, name, original)
    assert calls == []
    assert refused == 8


def test_compiled_expressions_are_cached() -> None:
    compile_expression.cache_clear()
    first = compile_expression("tier == 'gold' and priority > 1")
    again = compile_expression("tier == 'gold' and priority > 1")
    assert first is again
    assert compile_expression.cache_info().hits == 1
    assert first.roots == frozenset({"tier", "priority"})
    assert compile_expression("contact.language in languages").roots == {"contact", "languages"}


@given(st.text(max_size=120))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        expression = compile_expression(text)
    except ExpressionError as error:
        assert 0 <= error.position <= len(text)
        return
    assert isinstance(expression.matches(ATTRS), bool)


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False)
    | st.text(max_size=3),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text("ab", min_size=1, max_size=2), children, max_size=3),
    max_leaves=8)


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), _values),
       st.sampled_from(["a == b", "a != b", "a < b", "a >= c", "a in b", "b contains a",
                        "a not in c", "not a or b and c", "(a or b) and not c"]))
def test_evaluation_never_raises_on_any_data(attrs: dict[str, object], expression: str) -> None:
    assert isinstance(matches(expression, attrs), bool)
