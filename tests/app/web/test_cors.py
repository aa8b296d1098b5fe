"""CORS: preflight and response headers follow ALLOWED_ORIGINS."""


def test_cors_preflight_and_headers_follow_the_allowed_origins(database, app_client):
    client = app_client(database)
    preflight = client.options("/api/v1/ai/chatbots", headers={"Origin": "http://localhost:3000",
                                                               "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "apikey" in preflight.headers["Access-Control-Allow-Headers"]
    foreign = client.get("/api/v1/ai/chatbots", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    configured = app_client(database.replace(allowed_origins=("https://app.example",)))
    ok = configured.get("/api/v1/ai/chatbots", headers={"Origin": "https://app.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example"
