"""The execution tools' demo: order_total exposed to `default` (EXECUTE for authenticated only), the
`health` HTTP function, and a second load changing nothing."""
from app.demo.execution import ensure_execution_demo


def test_the_demo_exposes_order_total_and_registers_health_and_loads_idempotently(database, owner_conn):
    ensure_execution_demo(database)
    ensure_execution_demo(database)
    assert owner_conn.execute("select schema_name, function_name from ai.exposed_rpc where namespace = 'default'"
                              ).fetchall() == [("public", "order_total")]
    assert owner_conn.execute("select name, url, methods from ai.http_functions where namespace = 'default'"
                              ).fetchall() == [("health", f"http://127.0.0.1:{database.port}/health", ["GET"])]
    grants = owner_conn.execute(
        "select has_function_privilege(r, 'public.order_total(integer)', 'execute') from unnest(%s::text[]) r",
        (["authenticated", "anon"],)).fetchall()
    assert grants == [(True,), (False,)]
