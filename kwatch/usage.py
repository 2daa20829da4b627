"""Usage errors shared by every subcommand: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
from typing import NoReturn


class UsageError(Exception):
    """Bad command line: reported as one line, exit 2."""


class ArgParser(argparse.ArgumentParser):
    """argparse, but errors are one line (argparse's default prints the whole usage)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")
