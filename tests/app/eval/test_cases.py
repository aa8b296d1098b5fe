"""Case files: what they may say, and every mistake refused with its line."""
from __future__ import annotations

import pytest

from app.demo.loader import ALICE, BOB
from app.eval.cases import CaseFileError, parse_cases

GOOD = """
defaults:
  user: alice
cases:
  - id: one
    question: How many orders?
    expect:
      sql_result_equals: SELECT count(*) FROM orders
      answer_contains: 5
  - id: two
    user: B0B00000-0000-4000-8000-000000000002
    turns: [first, second]
    expect:
      tool_called: execute_sql
      tool_not_called: [insert_record, delete_record]
      answer_not_contains: [sorry]
      max_tokens: 100
"""


def test_a_good_file():
    one, two = parse_cases(GOOD)
    assert (one.id, one.user_id, one.user_label, one.turns, one.line) == ("one", ALICE, "alice", ("How many orders?",), 5)
    assert one.expect.answer_contains == ("5",) and one.expect.sql_result_equals == "SELECT count(*) FROM orders"
    assert two.user_id == BOB and two.turns == ("first", "second")
    assert two.expect.tool_not_called == ("insert_record", "delete_record") and two.expect.max_tokens == 100


def case(expect: str, head: str = "  - id: a\n    user: bob\n    question: q\n") -> str:
    return "cases:\n" + head + "    expect:\n" + expect


@pytest.mark.parametrize("text, line, message", [
    (case("      answer_contain: x\n"), 6, "unknown key 'answer_contain' in `expect` of case a"),
    (case("      max_tokens: ten\n"), 6, "`max_tokens` must be a whole number"),
    (case("      max_tokens: 0\n"), 6, "`max_tokens` must be positive"),
    (case("      answer_contains: []\n"), 6, "`answer_contains` must not be an empty list"),
    (case("      answer_contains:\n"), 6, "`answer_contains` must be a text"),
    (case("      tool_called: x\n      tool_not_called: x\n"), 6, "x is both called and not called"),
    (case("      {}\n"), 6, "`expect` has no expectation"),
    (case("      answer_contains: x\n", "  - id: a\n    question: q\n"), 2, "say which user it runs as"),
    (case("      answer_contains: x\n", "  - id: a\n    user: carol\n    question: q\n"), 3,
     "`user` must be alice, bob or a user id (UUID), not 'carol'"),
    (case("      answer_contains: x\n", "  - id: A b\n    user: bob\n    question: q\n"), 2, "case id 'A b'"),
    (case("      answer_contains: x\n", "  - id: a\n    user: bob\n"), 2, "give either `question` or `turns`"),
    (case("      answer_contains: x\n", "  - id: a\n    user: bob\n    question: q\n    turns: [r]\n"), 2,
     "give either `question` or `turns`"),
    ("cases:\n  - id: a\n    user: bob\n    question: q\n", 2, "`expect` is missing"),
    ("cases: []\n", 1, "`cases` must be a non-empty list"),
    ("defaults: {user: bob}\n", 1, "needs a `cases:` list"),
    ("cases:\n  - id: a\n    user: bob\n    question: q\n    expect: {answer_contains: x}\n"
     "  - id: a\n    user: bob\n    question: q\n    expect: {answer_contains: x}\n", 6,
     "case id 'a' is used twice (first on line 2)"),
    ("cases:\n  - id: a\n    id: b\n", 3, "'id' is given twice"),
    ("cases: [\n  - a\n", 2, "not valid YAML"),
    ("- just\n- a list\n", 1, "the case file must be a mapping"),
    ("", None, "the case file is empty"),
])
def test_mistakes_are_refused_with_their_line(text, line, message):
    with pytest.raises(CaseFileError) as caught:
        parse_cases(text, "f.yaml")
    assert caught.value.line == line
    assert message in caught.value.message, caught.value.message
    assert str(caught.value).startswith(f"f.yaml:{line}: " if line else "f.yaml: ")


def test_yaml_tags_that_build_objects_are_refused():
    with pytest.raises(CaseFileError) as caught:
        parse_cases("cases: !!python/object/apply:os.system ['true']\n")
    assert "YAML tags such as 'tag:yaml.org,2002:python/object/apply:os.system' are not allowed" in str(caught.value)
    with pytest.raises(CaseFileError, match="not allowed"):
        parse_cases(case("      answer_contains: !env SECRET\n"))
