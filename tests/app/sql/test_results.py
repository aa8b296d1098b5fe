"""Query results in words: the summary the client and the model read, and the model's sample of rows."""
import json

from app.sql.results import QueryResult, model_view, summarize


def make_result(rows, columns=None, *, command="SELECT", row_count=None, truncated_by=None) -> QueryResult:
    columns = columns if columns is not None else (list(rows[0]) if rows else [])
    return QueryResult(columns=columns, rows=rows, row_count=len(rows) if row_count is None else row_count,
                       truncated=truncated_by is not None, duration_ms=1.0, command=command,
                       truncated_by=truncated_by)


def test_summaries():
    rows = [{"id": i, "name": f"n{i}", "total": i * 1.5} for i in range(5)]
    assert summarize(make_result(rows)) == "Returned 5 rows (columns: id, name, total)"
    assert summarize(make_result(rows[:1])) == "Returned 1 row (columns: id, name, total)"
    assert summarize(make_result([], ["id"])) == "Returned 0 rows (columns: id)"
    many = [{"g": i} for i in range(1000)]
    assert summarize(make_result(many, truncated_by="rows")) == \
        "Returned 1000 rows (truncated at the row limit; columns: g)"
    assert "truncated at the size limit" in summarize(make_result(many[:3], truncated_by="bytes"))
    assert summarize(make_result([], [], command="INSERT", row_count=1)) == "Inserted 1 row"
    assert summarize(make_result([], [], command="DELETE", row_count=3)) == "Deleted 3 rows"
    assert summarize(make_result([], [], command="SET")) == "SET completed"


def test_model_view_sends_a_sample_never_the_full_result():
    rows = [{"id": i, "note": "x" * 500 if i == 0 else "ok"} for i in range(50)]
    text = model_view(make_result(rows, truncated_by="rows"), 3)
    lines = text.splitlines()
    assert lines[0] == "Returned 50 rows (truncated at the row limit; columns: id, note)"
    assert lines[1] == "Sample rows (3 of 50; 47 omitted):"
    assert [json.loads(line)["id"] for line in lines[2:5]] == [0, 1, 2]
    assert json.loads(lines[3]) == {"id": 1, "note": "ok"} and lines[3] == '{"id":1,"note":"ok"}'
    assert len(lines[2]) < 300 and "more characters" in lines[2]
    assert "cut at a limit" in lines[-1] and len(lines) == 6

    few = model_view(make_result(rows[1:3]), 5)
    assert few.splitlines()[1] == "Sample rows (2 of 2):"
    assert model_view(make_result(rows[1:3]), 0).splitlines()[1] == "(2 rows omitted)"
    assert model_view(make_result([], ["id"]), 5) == "Returned 0 rows (columns: id)"
