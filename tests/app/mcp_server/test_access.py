"""Who an MCP request acts as: the same end user a chat turn would act as, and the chatbot it names."""
import pytest

from app.auth.tokens import ANONYMOUS, Principal, service_principal
from app.mcp_server.access import AccessRefused, chatbot_address, end_user_of
from tests.conftest import ALICE
from workers.plan import end_user_of as turn_end_user_of


@pytest.mark.parametrize("principal", [
    Principal("authenticated", ALICE, {"role": "authenticated", "sub": ALICE}),
    Principal("admin", ALICE, {"role": "admin", "sub": ALICE}),
    Principal("anon", ALICE, {"role": "anon", "sub": ALICE}),
    Principal("service_role", None, {"role": "service_role"}),
    service_principal(),
    ANONYMOUS,
])
def test_the_end_user_is_the_one_a_turn_would_run_as(principal):
    mine, turns = end_user_of(principal), turn_end_user_of(principal.user_id, principal.role)
    assert (mine.user_id, mine.role, mine.claims) == (turns.user_id, turns.role, turns.claims)
    assert mine.role in ("anon", "authenticated")  # never service_role, whoever calls


def test_the_chatbot_comes_from_the_query_first_then_the_headers():
    assert chatbot_address({"chatbot": "shop", "namespace": "tests"}, {"X-Fluxbase-Chatbot": "other"}) == \
        ("tests", "shop")
    assert chatbot_address({}, {"X-Fluxbase-Chatbot": "shop"}) == ("default", "shop")
    assert chatbot_address({}, {"X-Fluxbase-Chatbot": "shop", "X-Fluxbase-Namespace": "ns"}) == ("ns", "shop")


@pytest.mark.parametrize("query, headers", [
    ({}, {}),
    ({"chatbot": "../etc"}, {}),
    ({"chatbot": "shop", "namespace": "Tests"}, {}),
    ({}, {"X-Fluxbase-Chatbot": "x" * 64}),
])
def test_a_missing_or_invalid_chatbot_name_is_400(query, headers):
    with pytest.raises(AccessRefused) as refused:
        chatbot_address(query, headers)
    assert refused.value.status == 400 and refused.value.code == "INVALID_REQUEST"
