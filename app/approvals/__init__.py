"""Approval before writes (docs/approval.md): the stored decisions, their signal, and the previews."""
