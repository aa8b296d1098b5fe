"""What the supervisor raises for a problem the user can fix."""


class SupervisorError(Exception):
    """A problem the user can fix, printed as one line."""
