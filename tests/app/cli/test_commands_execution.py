"""`fluxbase execution ...` as an admin runs it: the allow-lists written, listed and removed; bad input
refused with a message and exit code 2."""
import uuid

import pytest

from tests.support.processes import fluxbase


@pytest.fixture
def namespace():
    return f"cli-{uuid.uuid4().hex[:8]}"


def test_expose_list_and_unexpose_a_function_and_an_http_function(base_env, database, owner_conn, namespace):
    done = fluxbase(base_env, "execution", "expose-rpc", namespace, "public.order_total", "--description", "Totals")
    assert done.returncode == 0, done.stderr
    done = fluxbase(base_env, "execution", "add-function", namespace, "notify", "https://hooks.example.com/n",
                    "--methods", "post,get")
    assert done.returncode == 0 and "registered notify (POST/GET https://hooks.example.com/n)" in done.stdout
    assert owner_conn.execute("select methods from ai.http_functions where namespace = %s", (namespace,)
                              ).fetchone() == (["POST", "GET"],)
    listing = fluxbase(base_env, "execution", "list", namespace)
    assert listing.returncode == 0
    for text in ("public.order_total", "Totals", "notify", "demo.order_summary"):
        assert text in listing.stdout
    assert fluxbase(base_env, "execution", "unexpose-rpc", namespace, "public.order_total").returncode == 0
    assert fluxbase(base_env, "execution", "remove-function", namespace, "notify").returncode == 0
    again = fluxbase(base_env, "execution", "remove-function", namespace, "notify")
    assert again.returncode == 1 and f"no function notify in {namespace}" in again.stderr
    assert owner_conn.execute("select count(*) from ai.exposed_rpc where namespace = %s", (namespace,)
                              ).fetchone() == (0,)


@pytest.mark.parametrize("args, message", [
    (["expose-rpc", "NS", "public.order_total"], "namespace 'NS' must be"),
    (["expose-rpc", "ok", "order_total"], "must be schema.function"),
    (["expose-rpc", "ok", "public.no_such_function"], "there is no function public.no_such_function"),
    (["add-function", "ok", "n", "https://user@hooks.example.com/"], "the URL is refused"),
    (["add-function", "ok", "n", "ftp://hooks.example.com/"], "the URL is refused"),
    (["add-function", "ok", "n", "https://hooks.example.com/", "--methods", "TRACE"], "methods must be some of"),
    (["add-function", "ok", "Bad Name", "https://hooks.example.com/"], "function name 'Bad Name' must be"),
])
def test_bad_entries_are_refused(base_env, database, args, message):
    done = fluxbase(base_env, "execution", *args)
    assert done.returncode == 2 and message in done.stderr, (done.returncode, done.stderr)
