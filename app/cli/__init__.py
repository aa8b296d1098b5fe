"""The `fluxbase` command line."""
