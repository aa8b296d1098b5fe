"""How an attempt's failure becomes its ending event."""
from app.protocol import Code, ProtocolError
from workers.endings import ending_for


def test_a_refusal_found_while_the_turn_runs_keeps_its_extra_fields():
    # The same error start_chat would have sent: a client reads `setting` to say which one is missing.
    ending = ending_for(ProtocolError(Code.SETTINGS_MISSING, "openweather.api_key is not set",
                                      setting="openweather.api_key"), "turn-1")
    assert (ending.status, ending.code) == ("error", Code.SETTINGS_MISSING)
    assert ending.event["code"] == "SETTINGS_MISSING" and ending.event["setting"] == "openweather.api_key"
    refused = ending_for(ProtocolError(Code.TOKEN_BUDGET_EXCEEDED, retry_after=10), "turn-2").event
    assert refused["retry_after"] == 10 and refused["error"] == "Token budget exceeded"
