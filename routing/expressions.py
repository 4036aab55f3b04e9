"""The small, safe expression language of routing workflows.

Filters and agent expressions are written by tenant admins, so they are parsed by a
tokenizer and a recursive-descent parser into a tree that is only ever *evaluated*, never
executed: there is no way to reach Python from an expression.

Grammar (lowest precedence first)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := value (op value | ["not"] "in" value | "contains" value)?
    op         := "==" | "!=" | "<" | "<=" | ">" | ">="
    value      := NUMBER | STRING | "true" | "false" | "null" | list | path | "(" expr ")"
    list       := "[" [value ("," value)*] "]"
    path       := NAME ("." NAME)*

A path looks the name up in the attributes (``customer.tier`` reads
``attrs["customer"]["tier"]``); a missing name is null. Comparing values of different kinds
is false rather than an error, so a filter on an absent attribute simply does not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "contains", "true", "false", "null"}
MAX_LENGTH = 2000
MAX_DEPTH = 50


class ExpressionError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.position = position


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
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = position + (len(text[position:]) - len(text[position:].lstrip()))
            raise ExpressionError(f"unexpected character {text[start]!r}", start)
        kind = match.lastgroup or ""
        raw = match.group(kind)
        start = match.start(kind)
        if kind == "number":
            tokens.append(Token("number", float(raw) if "." in raw else int(raw), start))
        elif kind == "string":
            tokens.append(Token("string", _unquote(raw), start))
        elif kind == "name" and raw in KEYWORDS:
            tokens.append(Token("keyword", raw, start))
        else:
            tokens.append(Token(kind, raw, start))
        position = match.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


# --- the tree ---------------------------------------------------------------------------

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

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept(self, kind: str, value: Any = None) -> bool:
        token = self.peek()
        if token.kind == kind and (value is None or token.value == value):
            self.index += 1
            return True
        return False

    def expect(self, kind: str, value: Any) -> None:
        if not self.accept(kind, value):
            token = self.peek()
            raise ExpressionError(f"expected {value!r}", token.position)

    def parse(self) -> Node:
        node = self.or_()
        token = self.peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {token.value!r}", token.position)
        return node

    def _nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("expression nested too deeply", self.peek().position)

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
            self._nested()
            node = Not(self.not_())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.value()
        token = self.peek()
        if token.kind == "op" and token.value in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return Compare(token.value, left, self.value())
        if self.accept("keyword", "in"):
            return Compare("in", left, self.value())
        if token.kind == "keyword" and token.value == "not":
            following = self.tokens[self.index + 1]
            if following.kind == "keyword" and following.value == "in":
                self.index += 2
                return Compare("notin", left, self.value())
        if self.accept("keyword", "contains"):
            return Compare("contains", left, self.value())
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
            self._nested()
            node = self.or_()
            self.expect("op", ")")
            self.depth -= 1
            return node
        if token.kind == "op" and token.value == "[":
            items: list[Node] = []
            if not self.accept("op", "]"):
                items.append(self.value())
                while self.accept("op", ","):
                    items.append(self.value())
                self.expect("op", "]")
            return ListOf(tuple(items))
        shown = "end of expression" if token.kind == "end" else repr(token.value)
        raise ExpressionError(f"unexpected {shown}", token.position)


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Node:
    """Parse once; workflows evaluate the same few expressions for every contact."""
    return _Parser(text).parse()


def evaluate(node: Node, attributes: dict[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Path):
        current: Any = attributes
        for part in node.parts:
            if not isinstance(current, dict):
                return None
            current = current.get(part)
        return current
    if isinstance(node, ListOf):
        return [evaluate(item, attributes) for item in node.items]
    if isinstance(node, Not):
        return not truthy(evaluate(node.operand, attributes))
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(truthy(evaluate(o, attributes)) for o in node.operands)
        return any(truthy(evaluate(o, attributes)) for o in node.operands)
    return _compare(node.op, evaluate(node.left, attributes), evaluate(node.right, attributes))


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op in ("in", "notin"):
        found = isinstance(right, list | str) and _member(left, right)
        return found if op == "in" else not found
    if op == "contains":
        return isinstance(left, list | str) and _member(right, left)
    if not _comparable(left, right):
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _member(item: Any, container: list[Any] | str) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    return item in container


def _comparable(left: Any, right: Any) -> bool:
    numbers = (int, float)
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if isinstance(left, numbers) and isinstance(right, numbers):
        return True
    return isinstance(left, str) and isinstance(right, str)


def truthy(value: Any) -> bool:
    return value is not None and value is not False and value != 0 and value != "" \
        and value != []


def matches(expression: str, attributes: dict[str, Any]) -> bool:
    """Whether ``attributes`` satisfy ``expression`` (an empty expression matches all)."""
    if not expression.strip():
        return True
    return truthy(evaluate(compile_expression(expression), attributes))
