"""Credentials on the REST endpoints: which tokens count as admin."""
import time

import jwt

from app.auth.tokens import mint


def test_admin_role_jwt_is_accepted_on_admin_endpoints(database, app_client):
    client = app_client(database)
    admin = mint(database.jwt_secret, role="authenticated", user_id="a11ce000-0000-4000-8000-000000000001")
    assert client.get("/api/v1/admin/ai/chatbots", headers={"Authorization": f"Bearer {admin}"}).status_code == 403
    token = jwt.encode({"role": "admin", "sub": "a11ce000-0000-4000-8000-000000000001",
                        "exp": int(time.time()) + 60}, database.jwt_secret, algorithm="HS256")
    assert client.get("/api/v1/admin/ai/chatbots", headers={"Authorization": f"Bearer {token}"}).status_code == 200
