"""Errors a user can cause and fix: the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """A problem with the user's input or environment (flag, file, server, key, directory)."""
