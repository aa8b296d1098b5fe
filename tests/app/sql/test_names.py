from app.sql.names import sql_name, sql_qualified


def test_plain_names_stay_and_others_are_quoted_as_one_identifier():
    assert sql_name("orders") == "orders" and sql_name("order_items2") == "order_items2"
    assert sql_name('weird "name"; x') == '"weird ""name""; x"'
    assert sql_name("Orders") == '"Orders"' and sql_name("col; drop text") == '"col; drop text"'
    assert sql_qualified("public", "orders", "public") == "orders"
    assert sql_qualified("Analytics", "order metrics", "public") == '"Analytics"."order metrics"'
