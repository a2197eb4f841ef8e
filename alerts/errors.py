"""What the alert services raise: input to fix, or an alert the user may not act on."""


class AlertError(ValueError):
    """A request about an alert that cannot be done; `problems` maps a field to what to fix."""

    def __init__(self, problems: dict[str, list[str]]):
        super().__init__("; ".join(p for ps in problems.values() for p in ps))
        self.problems = problems


class AlertNotFound(Exception):
    """Not an alert of this user's, or about a person they may no longer see: answer 404."""
