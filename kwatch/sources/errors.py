"""The one error type sources raise to the CLI: a one-line message and an exit code.

Why a single type: the CLI prints ``message`` and exits with ``exit_code`` without
having to know about YAML, TLS, aiohttp or kubernetes_asyncio exceptions.
"""

from __future__ import annotations

# The CLI contract is "2 for usage errors, 1 for runtime errors": scripts branch on
# exit status, and every runtime failure (config, network, auth) is the user's to read
# from the one-line message. The names say which kind of failure raised it.
EXIT_CONFIG = 1  # kubeconfig missing / unreadable / no such context
EXIT_UNREACHABLE = 1  # cannot connect, TLS failure, timeout
EXIT_AUTH = 1  # credentials rejected (401) or access denied (403)


class KwatchError(Exception):
    """A user-facing failure: ``message`` is one line, fit to print as-is."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
