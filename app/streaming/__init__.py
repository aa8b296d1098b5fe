"""Moving turn events from workers to sockets: numbered, published live, kept for replay."""
