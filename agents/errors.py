"""Errors a user can cause and fix: the CLI prints them as one line and exits with code 2."""


class UserError(ValueError):
    """A problem with the user's input or environment (flag, file, server, key, directory).

    A ``ValueError`` so that the LangGraph API server (Studio) shows its message in ``__error__``:
    it hides the text of exception types outside a fixed list as "An internal error occurred".
    """
