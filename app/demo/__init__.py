"""The demo shop: a small schema with row-level security and two users."""
