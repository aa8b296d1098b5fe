"""Who is calling: JWTs, the service key, and the resulting principal."""
