"""The one exception of the BXML model.

The call engine ends a call with disconnectCause `invalid-bxml` and `str(error)` as its
errorMessage, so messages read like Bandwidth's: the verb first, then the attribute and the rule
("Gather: maxDigits must be between 1 and 50").
"""

from __future__ import annotations


class BxmlError(ValueError):
    """A BXML document or verb was refused. `verb` and `attribute` say where, when known."""

    def __init__(
        self, message: str, *, verb: str | None = None, attribute: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.verb = verb
        self.attribute = attribute
