"""Evaluation case files (`chatbots/<name>/eval.yaml`): parsing and validation into frozen cases.

    defaults:                 # optional; applies to every case that does not say otherwise
      user: alice
    cases:
      - id: order-count       # unique in the file: lower-case letters, digits, '-', '_'
        user: bob             # alice / bob (the demo users) or a user id (UUID)
        question: How many orders do I have?      # or `turns: [first message, second, ...]`
        expect:               # checked against the case's last turn
          sql_result_equals: SELECT count(*) FROM orders
          tool_called: execute_sql            # a name or a list of names
          tool_not_called: [insert_record]
          answer_contains: "3"                # a text or a list, case-insensitive
          answer_not_contains: error
          max_tokens: 4000                    # prompt + completion tokens of the whole case

The YAML is read with PyYAML's safe loader node by node, so every mistake is reported with the
line it is on. Unknown keys are mistakes too: a misspelt `answer_contain` would otherwise be a
case that checks nothing.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import yaml

from app.demo.loader import ALICE, BOB

__all__ = ["CaseFileError", "EvalCase", "Expectations", "MAX_FILE_BYTES", "load_case_file", "parse_cases",
           "resolve_user", "DEMO_USERS"]

DEMO_USERS = {"alice": ALICE, "bob": BOB}
MAX_FILE_BYTES = 1024 * 1024
MAX_CASES = 1000
MAX_TURNS = 20
MAX_TEXT = 20_000
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp",
                                                             "seq", "map"))
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CASE_KEYS = ("id", "user", "question", "turns", "expect", "description")
_EXPECT_KEYS = ("sql_result_equals", "tool_called", "tool_not_called", "answer_contains", "answer_not_contains",
                "max_tokens")


class CaseFileError(Exception):
    """A case file that cannot be used; `line` is 1-based when known."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path, self.message, self.line = path, message, line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Expectations:
    sql_result_equals: str | None = None
    tool_called: tuple[str, ...] = ()
    tool_not_called: tuple[str, ...] = ()
    answer_contains: tuple[str, ...] = ()
    answer_not_contains: tuple[str, ...] = ()
    max_tokens: int | None = None

    @property
    def empty(self) -> bool:
        return not (self.sql_result_equals or self.tool_called or self.tool_not_called or self.answer_contains
                    or self.answer_not_contains or self.max_tokens is not None)


@dataclass(frozen=True)
class EvalCase:
    id: str
    user_id: str                  # a UUID
    user_label: str               # as written: alice, bob or the UUID
    turns: tuple[str, ...]        # the user's messages, in order; expectations look at the last one's answer
    expect: Expectations
    line: int                     # where the case starts, for messages about it
    description: str | None = None


def resolve_user(value: str) -> str:
    """alice / bob, or a UUID in any form Python reads; ValueError otherwise."""
    known = DEMO_USERS.get(value.strip().lower())
    return known or str(uuid.UUID(value))


def load_case_file(path: str | Path) -> tuple[EvalCase, ...]:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CaseFileError(str(path), f"cannot read the case file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CaseFileError(str(path), f"the case file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CaseFileError(str(path), "the case file is not UTF-8 text") from None
    return parse_cases(text, str(path))


def parse_cases(text: str, path: str = "<cases>") -> tuple[EvalCase, ...]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise CaseFileError(path, f"not valid YAML: {problem}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise CaseFileError(path, f"not valid YAML: {exc}") from None
    return _File(path).cases(root)


class _File:
    """Turns the composed YAML nodes into cases; each check names the node's line."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, node: yaml.Node | None, message: str) -> NoReturn:
        raise CaseFileError(self.path, message, node.start_mark.line + 1 if node is not None else None)

    def plain(self, node: yaml.Node) -> None:
        # Nodes are never constructed into objects; a YAML tag (`!!python/...`, `!env`) is still a mistake.
        if node.tag not in _PLAIN_TAGS:
            self.fail(node, f"YAML tags such as {node.tag!r} are not allowed in a case file")

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        self.plain(node)
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping of keys to values")
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name not in allowed:
                self.fail(key, f"unknown key {name!r} in {what} (allowed: {', '.join(allowed)})")
            if name in found:
                self.fail(key, f"{name!r} is given twice in {what}")
            found[name] = (key, value)
        return found

    def text(self, node: yaml.Node, what: str) -> str:
        self.plain(node)
        # Any scalar is taken as written (`answer_contains: 5` means the text "5"); only null is missing.
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.fail(node, f"{what} must be a text")
        value = node.value.strip()
        if not value:
            self.fail(node, f"{what} must not be empty")
        if len(value) > MAX_TEXT:
            self.fail(node, f"{what} is longer than {MAX_TEXT} characters")
        return value

    def texts(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        self.plain(node)
        if isinstance(node, yaml.SequenceNode):
            if not node.value:
                self.fail(node, f"{what} must not be an empty list")
            return tuple(self.text(item, what) for item in node.value)
        return (self.text(node, what),)

    def cases(self, root: yaml.Node | None) -> tuple[EvalCase, ...]:
        if root is None:
            self.fail(None, "the case file is empty: it needs a `cases:` list")
        top = self.mapping(root, "the case file", ("cases", "defaults"))
        default_user = None
        if "defaults" in top:
            defaults = self.mapping(top["defaults"][1], "defaults", ("user",))
            if "user" in defaults:
                default_user = defaults["user"][1]
        if "cases" not in top:
            self.fail(root, "the case file needs a `cases:` list")
        listed = top["cases"][1]
        self.plain(listed)
        if not isinstance(listed, yaml.SequenceNode) or not listed.value:
            self.fail(listed, "`cases` must be a non-empty list")
        if len(listed.value) > MAX_CASES:
            self.fail(listed, f"at most {MAX_CASES} cases per file")
        cases, seen = [], {}
        for node in listed.value:
            case = self.case(node, default_user)
            if case.id in seen:
                self.fail(node, f"case id {case.id!r} is used twice (first on line {seen[case.id]})")
            seen[case.id] = case.line
            cases.append(case)
        return tuple(cases)

    def case(self, node: yaml.Node, default_user: yaml.Node | None) -> EvalCase:
        fields = self.mapping(node, "a case", _CASE_KEYS)
        line = node.start_mark.line + 1
        if "id" not in fields:
            self.fail(node, "a case needs an `id`")
        id_node = fields["id"][1]
        case_id = self.text(id_node, "`id`")
        if not _ID.fullmatch(case_id):
            self.fail(id_node, f"case id {case_id!r}: use lower-case letters, digits, '-' and '_' (1-63 characters)")
        user_node = fields.get("user", (None, default_user))[1]
        if user_node is None:
            self.fail(node, f"case {case_id}: say which user it runs as (`user: alice`, or `defaults: user:`)")
        label = self.text(user_node, "`user`")
        try:
            user_id = resolve_user(label)
        except ValueError:
            self.fail(user_node, f"case {case_id}: `user` must be alice, bob or a user id (UUID), not {label!r}")
        if ("question" in fields) == ("turns" in fields):
            self.fail(node, f"case {case_id}: give either `question` or `turns` (a list of messages)")
        if "question" in fields:
            turns = (self.text(fields["question"][1], "`question`"),)
        else:
            turns = self.texts(fields["turns"][1], "`turns`")
            if len(turns) > MAX_TURNS:
                self.fail(fields["turns"][1], f"case {case_id}: at most {MAX_TURNS} turns")
        if "expect" not in fields:
            self.fail(node, f"case {case_id}: `expect` is missing (a case that checks nothing cannot fail)")
        expect = self.expectations(fields["expect"][1], case_id)
        description = self.text(fields["description"][1], "`description`") if "description" in fields else None
        return EvalCase(case_id, user_id, label, turns, expect, line, description)

    def expectations(self, node: yaml.Node, case_id: str) -> Expectations:
        fields = self.mapping(node, f"`expect` of case {case_id}", _EXPECT_KEYS)
        values: dict[str, object] = {}
        for name in ("tool_called", "tool_not_called", "answer_contains", "answer_not_contains"):
            if name in fields:
                values[name] = self.texts(fields[name][1], f"`{name}`")
        if "sql_result_equals" in fields:
            values["sql_result_equals"] = self.text(fields["sql_result_equals"][1], "`sql_result_equals`")
        if "max_tokens" in fields:
            limit = fields["max_tokens"][1]
            if not isinstance(limit, yaml.ScalarNode) or limit.tag != "tag:yaml.org,2002:int" \
                    or not limit.value.isdigit():
                self.fail(limit, "`max_tokens` must be a whole number")
            values["max_tokens"] = int(limit.value)
            if values["max_tokens"] <= 0:
                self.fail(limit, "`max_tokens` must be positive")
        expect = Expectations(**values)
        if expect.empty:
            self.fail(node, f"case {case_id}: `expect` has no expectation")
        overlap = set(expect.tool_called) & set(expect.tool_not_called)
        if overlap:
            self.fail(node, f"case {case_id}: {', '.join(sorted(overlap))} is both called and not called")
        return expect
