"""Execution-accuracy comparison: multisets, column matching by values, order only with ORDER BY."""
from __future__ import annotations

import pytest

from app.eval.compare import compare_rows, is_ordered


def test_rows_are_a_multiset_duplicates_count():
    assert compare_rows([{"a": 1}, {"a": 2}, {"a": 1}], [{"x": 2}, {"x": 1}, {"x": 1}], ordered=False).equal
    assert not compare_rows([{"a": 1}, {"a": 1}, {"a": 2}], [{"x": 1}, {"x": 2}, {"x": 2}], ordered=False).equal


def test_columns_match_by_values_not_names_or_places():
    got = [{"n": 2, "status": "paid"}, {"n": 1, "status": "shipped"}]
    want = [{"status": "shipped", "count": 1}, {"status": "paid", "count": 2}]
    assert compare_rows(got, want, ordered=False).equal
    # The values of each column must stay together in their rows: swapping within a column is a difference.
    crossed = [{"n": 1, "status": "paid"}, {"n": 2, "status": "shipped"}]
    outcome = compare_rows(crossed, want, ordered=False)
    assert not outcome.equal and outcome.reason.startswith("the rows differ")


def test_look_alike_columns_are_searched_for_the_assignment_that_fits():
    got = [{"a": 1, "b": 2}, {"a": 2, "b": 1}, {"a": 3, "b": 3}]
    want = [{"x": 2, "y": 1}, {"x": 1, "y": 2}, {"x": 3, "y": 3}]
    assert compare_rows(got, want, ordered=True).equal


def test_order_counts_only_when_the_reference_sorts():
    got = [{"id": 1}, {"id": 2}]
    want = [{"id": 2}, {"id": 1}]
    assert compare_rows(got, want, ordered=False).equal
    outcome = compare_rows(got, want, ordered=True)
    assert not outcome.equal and "another order" in outcome.reason


@pytest.mark.parametrize("got, want, reason", [
    ([{"a": 1}], [{"a": 1}, {"a": 2}], "1 row, the reference has 2 rows"),
    ([{"a": 1, "b": 2}], [{"a": 1}], "2 columns, the reference has 1 column"),
    ([{"a": 1}], [{"count": 3}], "no column has the values of the reference's column 'count' (got [[1]], the reference has [[3]])"),
])
def test_differences_say_what_differs(got, want, reason):
    outcome = compare_rows(got, want, ordered=False, expected_columns=list(want[0]))
    assert (outcome.equal, outcome.reason) == (False, reason)


def test_numbers_compare_by_value_everything_else_exactly():
    assert compare_rows([{"a": 5}], [{"a": 5.0}], ordered=False).equal
    assert compare_rows([{"a": 0.1 + 0.2}], [{"a": 0.3}], ordered=False).equal
    assert not compare_rows([{"a": "5"}], [{"a": 5}], ordered=False).equal
    assert not compare_rows([{"a": None}], [{"a": 0}], ordered=False).equal
    assert not compare_rows([{"a": True}], [{"a": 1}], ordered=False).equal
    assert compare_rows([{"a": [1, 2], "j": {"k": 1, "l": 2}}], [{"j": {"l": 2, "k": 1}, "a": [1, 2]}],
                        ordered=False).equal
    assert compare_rows([], [], ordered=True).equal


@pytest.mark.parametrize("sql, ordered", [
    ("SELECT id FROM orders ORDER BY id", True),
    ("SELECT id FROM orders", False),
    ("SELECT id FROM (SELECT id FROM orders ORDER BY id) s", False),
    ("SELECT 1 UNION SELECT 2 ORDER BY 1", True),
    ("WITH t AS (SELECT 1 AS a) SELECT a FROM t ORDER BY a DESC", True),
])
def test_order_by_is_seen_at_the_top_level_only(sql, ordered):
    assert is_ordered(sql) is ordered


def test_a_reference_is_one_statement():
    with pytest.raises(ValueError):
        is_ordered("SELECT 1; SELECT 2")
