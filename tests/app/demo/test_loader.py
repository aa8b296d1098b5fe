"""The demo shop: its row-level security per end user, and loading it only once."""
import psycopg
import pytest

from app.demo.loader import ALICE, BOB, DemoAlreadyLoaded, load_demo
from tests.support.database import as_user


def test_rls_shows_each_user_only_their_orders(database):
    alice = as_user(database, "authenticated", {"sub": ALICE, "role": "authenticated"}, "select user_id from orders")
    bob = as_user(database, "authenticated", {"sub": BOB, "role": "authenticated"}, "select user_id from orders")
    assert len(alice) == 5 and {str(r[0]) for r in alice} == {ALICE}
    assert len(bob) == 3 and {str(r[0]) for r in bob} == {BOB}


@pytest.mark.parametrize("claims", [None, {}, {"role": "authenticated"}, {"sub": ""}])
def test_missing_identity_fails_closed(database, claims):
    assert as_user(database, "authenticated", claims, "select * from orders") == []
    assert as_user(database, "authenticated", claims, "select auth.uid()") == [(None,)]


def test_anon_sees_products_but_no_orders(database):
    assert len(as_user(database, "anon", {"role": "anon"}, "select * from products")) == 8
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(database, "anon", {"role": "anon"}, "select * from orders")


def test_rls_is_forced_on_user_tables(owner_conn):
    forced = dict(owner_conn.execute("select relname::text, relrowsecurity and relforcerowsecurity from pg_class "
                                     "where relnamespace = 'public'::regnamespace and relkind = 'r'").fetchall())
    assert {"customers", "products", "orders", "order_items", "locations"} <= set(forced)
    assert [name for name, yes in forced.items() if not yes] == []


def test_demo_load_refuses_a_database_that_has_it(database):
    with pytest.raises(DemoAlreadyLoaded):
        load_demo(database)
