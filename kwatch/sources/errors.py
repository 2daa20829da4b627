"""The one error type sources raise to the CLI: a one-line message and an exit code.

Why a single type: the CLI prints ``message`` and exits with ``exit_code`` without
having to know about YAML, TLS, aiohttp or kubernetes_asyncio exceptions.
"""

from __future__ import annotations

# Distinct exit codes so scripts can tell "fix your kubeconfig" from "the cluster is
# down" from "you are not allowed". 1 stays the generic failure, 2 is argparse's usage.
EXIT_CONFIG = 3  # kubeconfig missing / unreadable / no such context
EXIT_UNREACHABLE = 4  # cannot connect, TLS failure, timeout
EXIT_AUTH = 5  # credentials rejected (401) or access denied (403)


class KwatchError(Exception):
    """A user-facing failure: ``message`` is one line, fit to print as-is."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
