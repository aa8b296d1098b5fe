"""SQL laid out for people: readable, and never an obstacle to showing the statement."""
from app.sql.pretty import MAX_PRETTY_CHARS, pretty_many, pretty_sql


def test_a_statement_is_laid_out_one_clause_a_line_with_keywords_upper_cased():
    sql = "select name, count(*) as n from orders where status = 'paid' and total > 10 group by name order by n desc"
    assert pretty_sql(sql).splitlines() == [
        "SELECT name,", "       count(*) AS n", "FROM orders", "WHERE status = 'paid'", "  AND total > 10",
        "GROUP BY name", "ORDER BY n DESC"]


def test_string_literals_and_identifiers_keep_their_case():
    assert "'select from Where'" in pretty_sql("select 'select from Where' as \"MixedCase\"")
    assert '"MixedCase"' in pretty_sql("select 'select from Where' as \"MixedCase\"")


def test_empty_huge_and_malformed_text_is_shown_rather_than_lost():
    assert pretty_sql("") == "" and pretty_sql(None) == ""
    huge = "select " + ", ".join(f"c{i}" for i in range(MAX_PRETTY_CHARS // 4)) + " from t"
    assert pretty_sql(huge) == huge
    assert pretty_sql("((( not sql")


def test_a_page_formats_statements_in_order_until_its_budget_is_spent():
    statements = ["select 1", "select 2", "select 3"]
    assert pretty_many(statements, budget_chars=16) == ["SELECT 1", "SELECT 2", "select 3"]
    assert pretty_many([None, "select 1"]) == ["", "SELECT 1"]


def test_a_name_given_after_as_keeps_its_case_even_when_it_is_a_keyword():
    shown = pretty_sql("select date_trunc('day', created_at)::date as day, count(*) as year from orders group by 1")
    assert "AS day," in shown and "AS year" in shown
    assert shown.startswith("SELECT") and "GROUP BY 1" in shown
