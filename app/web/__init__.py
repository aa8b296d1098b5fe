"""HTTP and WebSocket handlers only: blueprints and one JSON error shape."""
