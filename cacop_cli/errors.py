"""Domain errors and the exit-code table (docs/format.md, "Exit codes"). Stdlib only."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    PROBLEMS = 1  # invalid entries, refused work, no such entry
    USAGE = 2  # the command line itself was wrong
    NO_KB = 3  # no KB found, or its cacop.yaml is invalid
    GIT = 4  # git could not finish; the clone is as it was
    INTERRUPTED = 130  # Ctrl-C


class CacopError(Exception):
    """An error meant for a person: what went wrong, and what to do next."""

    exit_code: ExitCode = ExitCode.PROBLEMS

    def __init__(self, message: str, hint: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field  # the data at fault (e.g. "title"); the CLI names its flag


class UsageError(CacopError):
    exit_code = ExitCode.USAGE


class QueryError(UsageError):
    """A search query that cannot be understood."""


class KBNotFound(CacopError):
    exit_code = ExitCode.NO_KB


class ConfigError(CacopError):
    exit_code = ExitCode.NO_KB


class NotFound(CacopError):
    """No entry with that id."""


class Refused(CacopError):
    """The work was refused: invalid, too sensitive, or holding personal data."""


class Busy(CacopError):
    """Another cacop process holds the lock."""


class GitError(CacopError):
    exit_code = ExitCode.GIT


class MissingBranch(GitError):
    """The remote answered, without the branch asked for: a setting to fix, not the network."""


class EntryError(CacopError):
    """An entry file that cannot be read: carries the line it failed at."""

    def __init__(self, code: str, message: str, line: int = 1, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.code = code
        self.line = line
