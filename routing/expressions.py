"""The small, safe expression language of routing workflows.

Filters and agent expressions are written by tenant admins, so they are tokenized and parsed
by a recursive-descent parser into a tree, and the tree is turned into plain Python closures
that only read the attribute mappings they are given: nothing in an expression can reach an
object, a method or the interpreter, and ``eval`` is never involved.

Grammar (lowest precedence first)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := value (op value | "not" "in" value | "in" value | "contains" value)?
    op         := "==" | "!=" | "<" | "<=" | ">" | ">="
    value      := NUMBER | STRING | "true" | "false" | "null" | list | path | "(" expr ")"
    list       := "[" [value ("," value)*] "]"
    path       := NAME ("." NAME)*

Semantics, chosen so that a filter on missing or odd data quietly does not match instead of
failing a contact at routing time:

- a path reads nested mappings (``customer.tier`` is ``attrs["customer"]["tier"]``); a
  missing name is null;
- ``==`` and ``!=`` never equate a boolean with a number (``true == 1`` is false);
- order comparisons hold only between two numbers or two strings, otherwise they are false;
- ``x in y`` and ``y contains x`` test membership in a list, a substring of a string, or a
  key of a mapping (``'fr' in skills``); anything else is false.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_LENGTH = 2000
MAX_DEPTH = 50

Attributes = Mapping[str, Any]
Evaluator = Callable[[Attributes], Any]


class ExpressionError(ValueError):
    """A refused expression; ``position`` is the 0-based offset of the offending text."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.message = message
        self.position = position


# --- tokens ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "true", "false", "null"})
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number, string, op, name, keyword, end
    value: Any
    position: int


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH)
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] in "\"'":
                raise ExpressionError("unterminated string", position)
            raise ExpressionError(f"unexpected character {text[position]!r}", position)
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "number":
            tokens.append(Token(kind, float(raw) if "." in raw else int(raw), position))
        elif kind == "string":
            tokens.append(Token(kind, re.sub(r"\\(.)", r"\1", raw[1:-1]), position))
        elif kind == "name":
            tokens.append(Token("keyword" if raw in KEYWORDS else kind, raw, position))
        elif kind == "op":
            tokens.append(Token(kind, raw, position))
        position = match.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


# --- the tree ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Path:
    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and | or
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >= in notin contains
    left: Node
    right: Node


Node = Literal | Path | ListOf | Not | BoolOp | Compare


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def accept(self, kind: str, value: str) -> bool:
        token = self.peek()
        if token.kind == kind and token.value == value:
            self.index += 1
            return True
        return False

    def expect(self, kind: str, value: str) -> None:
        if not self.accept(kind, value):
            token = self.peek()
            raise ExpressionError(f"expected {value!r}, found {_shown(token)}", token.position)

    def enter(self) -> None:
        # Bounded nesting keeps both parsing and evaluation far from Python's stack limit.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("expression nested too deeply", self.peek().position)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExpressionError("empty expression", 0)
        node = self.or_()
        token = self.peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {_shown(token)}", token.position)
        return node

    def or_(self) -> Node:
        operands = [self.and_()]
        while self.accept("keyword", "or"):
            operands.append(self.and_())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def and_(self) -> Node:
        operands = [self.not_()]
        while self.accept("keyword", "and"):
            operands.append(self.not_())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def not_(self) -> Node:
        if self.accept("keyword", "not"):
            self.enter()
            node = Not(self.not_())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.value()
        token = self.peek()
        if token.kind == "op" and token.value in COMPARISONS:
            self.take()
            return Compare(token.value, left, self.value())
        if self.accept("keyword", "in"):
            return Compare("in", left, self.value())
        if self.accept("keyword", "contains"):
            return Compare("contains", left, self.value())
        following = self.peek(1)
        if token.kind == "keyword" and token.value == "not" \
                and following.kind == "keyword" and following.value == "in":
            self.index += 2
            return Compare("notin", left, self.value())
        return left

    def value(self) -> Node:
        token = self.take()
        if token.kind in ("number", "string"):
            return Literal(token.value)
        if token.kind == "keyword" and token.value in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[token.value])
        if token.kind == "name":
            return Path(tuple(token.value.split(".")))
        if token.kind == "op" and token.value == "(":
            self.enter()
            node = self.or_()
            self.expect("op", ")")
            self.depth -= 1
            return node
        if token.kind == "op" and token.value == "[":
            self.enter()
            items: list[Node] = []
            if not self.accept("op", "]"):
                items.append(self.value())
                while self.accept("op", ","):
                    items.append(self.value())
                self.expect("op", "]")
            self.depth -= 1
            return ListOf(tuple(items))
        raise ExpressionError(f"unexpected {_shown(token)}", token.position)


def _shown(token: Token) -> str:
    return "end of expression" if token.kind == "end" else repr(token.value)


def parse(text: str) -> Node:
    return _Parser(text).parse()


# --- evaluation --------------------------------------------------------------------------

def truthy(value: Any) -> bool:
    """Python's truth for the data an expression can produce (no objects reach here)."""
    return value is not None and value is not False and value != 0 and value != "" \
        and not (isinstance(value, list | tuple | Mapping) and len(value) == 0)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(_equal, left, right))
    return bool(left == right)


def _comparable(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if isinstance(left, int | float) and isinstance(right, int | float):
        return True
    return isinstance(left, str) and isinstance(right, str)


def _member(item: Any, container: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple):
        return any(_equal(item, element) for element in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    return False


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op == "in":
        return _member(left, right)
    if op == "notin":
        return not _member(left, right)
    if op == "contains":
        return _member(right, left)
    return _comparable(left, right) and _ORDER[op](left, right)


def _build(node: Node) -> Evaluator:
    """Turn the tree into closures once, so evaluating a cached expression costs no tree
    walk dispatch."""
    if isinstance(node, Literal):
        constant = node.value
        return lambda _attrs: constant
    if isinstance(node, Path):
        return _path_reader(node.parts)
    if isinstance(node, ListOf):
        items = [_build(item) for item in node.items]
        return lambda attrs: [item(attrs) for item in items]
    if isinstance(node, Not):
        operand = _build(node.operand)
        return lambda attrs: not truthy(operand(attrs))
    if isinstance(node, BoolOp):
        operands = [_build(o) for o in node.operands]
        if node.op == "and":
            return lambda attrs: all(truthy(o(attrs)) for o in operands)
        return lambda attrs: any(truthy(o(attrs)) for o in operands)
    left, right, op = _build(node.left), _build(node.right), node.op
    return lambda attrs: _compare(op, left(attrs), right(attrs))


def _path_reader(parts: tuple[str, ...]) -> Evaluator:
    if len(parts) == 1:
        name = parts[0]
        return lambda attrs: attrs.get(name)

    def read(attrs: Attributes) -> Any:
        current: Any = attrs
        for part in parts:
            if not isinstance(current, Mapping):
                return None
            current = current.get(part)
        return current

    return read


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression, ready to evaluate any number of times."""

    source: str
    tree: Node
    _evaluate: Evaluator
    roots: frozenset[str] = frozenset()  # the top-level names it reads

    def evaluate(self, attributes: Attributes) -> Any:
        return self._evaluate(attributes)

    def matches(self, attributes: Attributes) -> bool:
        return truthy(self._evaluate(attributes))


_ALWAYS = Expression("", Literal(True), lambda _attrs: True)


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Expression:
    """Parse and prepare ``text``; the same few workflow expressions are evaluated for every
    contact, so compiled forms are cached. An empty expression matches everything."""
    if not text.strip():
        return _ALWAYS
    tree = parse(text)
    return Expression(text, tree, _build(tree), frozenset(_roots(tree)))


def _roots(node: Node) -> set[str]:
    if isinstance(node, Path):
        return {node.parts[0]}
    if isinstance(node, ListOf | BoolOp):
        children = node.items if isinstance(node, ListOf) else node.operands
        return set().union(*(_roots(child) for child in children))
    if isinstance(node, Not):
        return _roots(node.operand)
    if isinstance(node, Compare):
        return _roots(node.left) | _roots(node.right)
    return set()


def matches(expression: str, attributes: Attributes) -> bool:
    """Whether ``attributes`` satisfy ``expression`` (an empty expression matches all)."""
    return compile_expression(expression).matches(attributes)


def validate(expression: str) -> None:
    """Raise ``ExpressionError`` now (when a workflow is saved) rather than at routing time."""
    compile_expression(expression)
