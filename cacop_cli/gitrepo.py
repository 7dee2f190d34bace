"""git, for people who do not know git. The only module that imports GitPython.

Cheap questions and plumbing go through plain `git` (a subprocess in its own
session, killed gracefully on timeout or Ctrl-C, never prompting); pushing goes
through GitPython, whose push flags tell a rejected push apart (it does not raise).
Every user-supplied value reaches git after `--end-of-options` or `--`, and
every remote URL is checked before git may act on it.

Over 600 lines because it is the one module that runs git (one module per outside
tool): some sixty short functions, one per git command cacop uses, sharing `run_git`,
its timeouts and its error wording. Read it as the list of every git call cacop makes;
split it by its banners (names and remotes, reading, changing, bundles) if it grows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EntryError, GitError, MissingBranch, UsageError

GIT_TIMEOUT = 30
NETWORK_TIMEOUT = 60  # seconds; CACOP_GIT_TIMEOUT overrides it


def network_timeout() -> float:
    """How long a fetch or push may take before it is stopped (CACOP_GIT_TIMEOUT)."""
    try:
        return max(1.0, float(os.environ.get("CACOP_GIT_TIMEOUT", NETWORK_TIMEOUT)))
    except ValueError:
        return float(NETWORK_TIMEOUT)


_SAFETY_CONFIG = (
    ("protocol.ext.allow", "never"),
    ("protocol.fd.allow", "never"),
    ("http.lowSpeedLimit", "1000"),
    ("http.lowSpeedTime", "20"),
)


def git_env() -> dict[str, str]:
    """The environment for every git run: no prompts, no editor, C locale, bounded network."""
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C", GIT_EDITOR="true")
    env.setdefault("SSH_ASKPASS", "true")
    env.setdefault(
        "GIT_SSH_COMMAND",
        "ssh -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=10 "
        "-o ServerAliveCountMax=3",
    )
    env.pop("GIT_INDEX_FILE", None)
    if "GIT_CONFIG_COUNT" not in env:
        env["GIT_CONFIG_COUNT"] = str(len(_SAFETY_CONFIG))
        for number, (key, value) in enumerate(_SAFETY_CONFIG):
            env[f"GIT_CONFIG_KEY_{number}"] = key
            env[f"GIT_CONFIG_VALUE_{number}"] = value
    return env


# git runs in a process group of its own, so a Ctrl-C at the terminal reaches cacop only.
# POSIX: a new session, stopped with SIGINT to the group (git removes its lock files), then
# SIGKILL. Windows: a new process group, stopped with CTRL_BREAK_EVENT, then terminate().
_POSIX_GROUPS = hasattr(os, "killpg") and hasattr(signal, "SIGKILL")
_NEW_GROUP: dict[str, Any] = (
    {"start_new_session": True}
    if _POSIX_GROUPS
    else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
)


def _stop(process: subprocess.Popen) -> None:
    """Ask git's whole process group to stop (it removes its lock files), then insist."""
    for polite, wait in ((True, 5.0), (False, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if _POSIX_GROUPS:
                os.killpg(process.pid, signal.SIGINT if polite else signal.SIGKILL)  # type: ignore[attr-defined]
            elif polite and hasattr(signal, "CTRL_BREAK_EVENT"):
                process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
            else:
                process.kill()  # TerminateProcess on Windows
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_git(
    root: Path,
    *args: str,
    timeout: float = GIT_TIMEOUT,
    input: bytes | None = None,
    text: bool = True,
) -> subprocess.CompletedProcess:
    """Run git in root; never raises for a non-zero exit (callers read returncode).

    git runs in its own session, so a Ctrl-C at the terminal reaches cacop only: cacop
    then stops git gracefully (git removes its own lock files) and re-raises. A Ctrl-C
    while git is being started waits until Popen has returned: raised inside it, git would
    run on unstopped, with nothing left to stop it.
    """
    process: subprocess.Popen | None = None
    try:
        with sigint_deferred():
            try:
                process = subprocess.Popen(
                    ["git", *args],
                    cwd=root,
                    stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=git_env(),
                    **_NEW_GROUP,
                )
            except FileNotFoundError as exc:
                raise GitError("git is not installed", hint="install git, then try again") from exc
        stdout, stderr = process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _stop(process)  # type: ignore[arg-type]  # only communicate() times out
        raise GitError(
            f"git {args[0]} did not finish within {timeout:.0f} s",
            hint="check the network and the remote's address, then try again",
        ) from exc
    except BaseException:
        if process is not None:
            _stop(process)
        raise
    if text:
        stdout = stdout.decode("utf-8", "replace")
        stderr = stderr.decode("utf-8", "replace")
    return subprocess.CompletedProcess(["git", *args], process.returncode, stdout, stderr)


def git_ok(root: Path, *args: str, timeout: float = GIT_TIMEOUT, what: str = "") -> str:
    """Run git and return its stdout; a failure becomes a GitError naming git's reason."""
    result = run_git(root, *args, timeout=timeout)
    if result.returncode != 0:
        reason = first_reason(result.stderr) or f"exit {result.returncode}"
        raise GitError(f"{what or 'git ' + args[0]} failed: {reason}")
    return result.stdout


def first_reason(stderr: str) -> str:
    """git's own explanation, from its error output, on one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for prefix in ("fatal:", "error:"):
        for line in lines:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
    return "; ".join(lines[-3:])


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold a Ctrl-C until the block ends, so that it can only land before or after. The
    held Ctrl-C goes to the handler there was before: inside another such block (run_git's
    start of git, say), it is held on until the outer block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if callable(previous):  # Python's own handler raises KeyboardInterrupt
            previous(signal.SIGINT, None)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt


def is_repository(root: Path) -> bool:
    result = run_git(root, "rev-parse", "--is-inside-work-tree")
    return result.returncode == 0 and result.stdout.strip() == "true"


def require_repository(root: Path, purpose: str) -> None:
    """Raise GitError unless `root` is in a git work tree that git agrees to work in."""
    result = run_git(root, "rev-parse", "--is-inside-work-tree")
    if result.returncode == 0 and result.stdout.strip() == "true":
        return
    _refuse_if_foreign(root, result)
    raise GitError(
        f"{root} is not a git repository, so it cannot {purpose}",
        hint="clone the shared knowledge base with `git clone URL`, or run `cacop init`",
    )


def _refuse_if_foreign(root: Path, result: subprocess.CompletedProcess) -> None:
    """git refuses a repository that another user owns (its safe.directory check): say so,
    instead of "not a repository" or "no such revision"."""
    if "dubious ownership" in (result.stderr or ""):
        raise GitError(
            f"git refuses to work in {root}: the folder belongs to another user",
            hint="work in your own clone (`git clone URL`); or, if you trust the folder's "
            f"owner, `git config --global --add safe.directory {root}`",
        )


def tracked_files(root: Path, *pathspecs: str) -> list[str]:
    """Files git tracks under the pathspecs ([] outside a repository)."""
    result = run_git(root, "ls-files", "-z", "--", *pathspecs)
    if result.returncode != 0:
        return []
    return [name for name in result.stdout.split("\0") if name]


def changed_since(root: Path, ref: str) -> list[str]:
    """Files changed between `ref` and the working tree, plus untracked ones."""
    if ref.startswith("-"):
        raise GitError(f"{ref!r} is not a git revision")
    verify = run_git(
        root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
    )
    if verify.returncode != 0:
        _refuse_if_foreign(root, verify)
        raise GitError(
            f"{ref!r} is not a revision git knows here",
            hint="fetch first (`git fetch`), or name a branch or commit that exists",
        )
    diff = run_git(root, "diff", "--name-only", "-z", verify.stdout.strip(), "--")
    untracked = run_git(root, "ls-files", "-z", "--others", "--exclude-standard")
    names = diff.stdout.split("\0") + untracked.stdout.split("\0")
    return sorted({name for name in names if name})


def user_name(root: Path) -> str | None:
    result = run_git(root, "config", "user.name")
    name = result.stdout.strip()
    return name or None


def init_repository(root: Path, branch: str = "main") -> None:
    """git init, with the KB's branch as the first branch."""
    import git

    try:
        git.Repo.init(root, initial_branch=branch)
    except git.GitCommandError as exc:
        raise GitError(f"git init failed: {exc.stderr.strip()}") from exc


def commit_all(root: Path, message: str) -> str:
    """Stage everything (respecting .gitignore) and commit; returns the commit id."""
    import git

    repo = git.Repo(root)
    try:
        repo.git.add("--all", "--", ".")
        if not repo.git.config("user.name", with_exceptions=False):
            repo.git.config("user.name", "cacop")
        if not repo.git.config("user.email", with_exceptions=False):
            repo.git.config("user.email", "cacop@localhost")
        repo.git.commit("--no-verify", "-m", message)
    except git.GitCommandError as exc:
        raise GitError(f"git commit failed: {exc.stderr.strip()}") from exc
    return repo.head.commit.hexsha


# ---------------------------------------------------------------- names and remotes

_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$")
SAFE_SCHEMES = ("https", "http", "ssh", "git", "file", "git+ssh", "ssh+git")


def check_url(url: str) -> str:
    """Refuse remote addresses that would make git run a program or read an option."""
    problem = None
    if not url or url != url.strip() or any(ord(char) < 32 or ord(char) == 127 for char in url):
        problem = "it is empty or holds spaces or control characters at its ends"
    elif url.startswith("-"):
        problem = "it starts with '-', so git would read it as an option"
    elif _TRANSPORT.match(url):
        problem = f"'{url.split('::')[0]}::' runs a program instead of contacting a server"
    else:
        scheme = _SCHEME.match(url)
        if scheme and scheme.group(1).lower() not in SAFE_SCHEMES:
            problem = f"the protocol '{scheme.group(1)}' is not one cacop uses"
        elif _host(url).startswith("-"):
            problem = "its host starts with '-', so ssh would read it as an option"
    if problem:
        raise GitError(
            f"the remote address {url!r} is refused: {problem}",
            hint="set a plain https:// or ssh address with `git remote set-url origin URL`",
        )
    return url


def _host(url: str) -> str:
    """The host part of a URL or of an scp-like `user@host:path` address ('' for a path)."""
    scheme = _SCHEME.match(url)
    if scheme:
        return scheme.group("rest").split("/")[0].split("@")[-1]
    head = url.split("/")[0]
    return head.split(":")[0].split("@")[-1] if ":" in head else ""


def check_remote_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or ""):
        raise UsageError(f"{name!r} is not a remote name git accepts")
    return name


def remote_urls(root: Path, remote: str) -> list[str]:
    """The remote's fetch and push addresses, each checked; GitError if it has none."""
    check_remote_name(remote)
    urls = []
    for key in ("url", "pushurl"):
        result = run_git(root, "config", "--get-all", f"remote.{remote}.{key}")
        urls += [line for line in result.stdout.splitlines() if line]
    if not urls:
        raise GitError(
            f"this clone has no remote called {remote!r}",
            hint=f"add it with `git remote add {remote} URL` (the shared repository's address)",
        )
    for url in urls:
        check_url(url)
    return urls


def check_branch_name(root: Path, name: str) -> str:
    """A branch name by git's own rules; never one that reads as an option."""
    if not name or name.startswith("-"):
        raise UsageError(f"{name!r} is not a branch name (it would read as an option)")
    result = run_git(root, "check-ref-format", "--branch", name)
    if result.returncode != 0:
        raise UsageError(f"{name!r} is not a valid git branch name")
    return name


# ---------------------------------------------------------------- reading the repository


def rev_parse(root: Path, rev: str) -> str | None:
    """The commit a revision names, or None; the revision is never read as an option."""
    if rev.startswith("-"):
        return None
    result = run_git(
        root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def git_dir(root: Path) -> Path:
    path = Path(git_ok(root, "rev-parse", "--git-dir").strip())
    return path if path.is_absolute() else root / path


def current_branch(root: Path) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    result = run_git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    return result.stdout.strip() or None if result.returncode == 0 else None


def operation_in_progress(root: Path) -> str | None:
    """A rebase, merge, cherry-pick, revert or bisect that git is in the middle of."""
    where = git_dir(root)
    markers = (
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase (or git am)"),
        ("MERGE_HEAD", "a merge"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
        ("BISECT_LOG", "a bisect"),
    )
    for name, label in markers:
        if (where / name).exists():
            return label
    return None


@dataclass(frozen=True)
class Upstream:
    remote: str  # "." for a local branch
    branch: str  # the branch name on the remote
    ref: str  # the local ref that tracks it


def upstream_of(root: Path, branch: str) -> Upstream | None:
    remote = run_git(root, "config", "--get", f"branch.{branch}.remote").stdout.strip()
    merge = run_git(root, "config", "--get", f"branch.{branch}.merge").stdout.strip()
    if not remote or not merge.startswith("refs/heads/"):
        return None
    name = merge.removeprefix("refs/heads/")
    if remote == ".":
        return Upstream(".", name, merge)
    return Upstream(check_remote_name(remote), name, f"refs/remotes/{remote}/{name}")


def count_commits(root: Path, base: str, head: str) -> int:
    return int(git_ok(root, "rev-list", "--count", f"{base}..{head}").strip() or 0)


def commits_between(root: Path, base: str | None, head: str) -> list[str]:
    """Commits reachable from head and not from base, oldest first."""
    spec = [f"{base}..{head}"] if base else [head]
    return git_ok(root, "rev-list", "--reverse", *spec).split()


def commits_not_on_remotes(root: Path, head: str) -> list[str]:
    """Commits reachable from head that no remote-tracking branch has, oldest first."""
    return git_ok(root, "rev-list", "--reverse", head, "--not", "--remotes").split()


def hooks_dir(root: Path) -> Path:
    """Where git looks for this clone's hooks (core.hooksPath when it is set)."""
    path = Path(git_ok(root, "rev-parse", "--git-path", "hooks").strip())
    return path if path.is_absolute() else root / path


def is_ancestor(root: Path, commit: str, tip: str) -> bool:
    """Is `commit` in the history of `tip`?"""
    return run_git(root, "merge-base", "--is-ancestor", commit, tip).returncode == 0


def merge_base(root: Path, one: str, other: str) -> str | None:
    result = run_git(root, "merge-base", one, other)
    return result.stdout.strip() or None if result.returncode == 0 else None


@dataclass(frozen=True)
class Change:
    status: str  # A, M, D, T (R/C come split into D + A)
    path: str
    blob: str  # the new blob ("0"*40 when deleted)


def changes(root: Path, old: str | None, new: str) -> list[Change]:
    """Files that differ between two commits (old None: everything in new)."""
    if old is None:
        args = ["diff-tree", "-r", "-z", "--no-renames", "--root", "--no-commit-id", new]
    else:
        args = ["diff-tree", "-r", "-z", "--no-renames", old, new]
    fields = git_ok(root, *args).split("\0")
    found = []
    for header, path in zip(fields[0::2], fields[1::2], strict=False):
        if not header.startswith(":"):
            continue
        parts = header[1:].split()
        found.append(Change(parts[4][0], path, parts[3]))
    return found


def commit_changes(root: Path, commit: str) -> list[Change]:
    """What one commit changed against its first parent (everything, for a root commit)."""
    parent = rev_parse(root, f"{commit}^")
    return changes(root, parent, commit)


def read_blob(root: Path, blob: str, limit: int | None = None) -> bytes | None:
    """A blob's bytes (None when larger than limit)."""
    if limit is not None:
        size = int(git_ok(root, "cat-file", "-s", blob).strip() or 0)
        if size > limit:
            return None
    return run_git(root, "cat-file", "blob", blob, text=False).stdout


def commit_messages(root: Path, commits: list[str]) -> dict[str, str]:
    """The full message of each commit, read by one git process (commit -> message)."""
    if not commits:
        return {}
    result = run_git(root, "log", "--no-walk=unsorted", "--stdin", "-z", "--format=%H%n%B",
                     input="\n".join(commits).encode())  # fmt: skip
    if result.returncode != 0:
        raise GitError(f"git log failed: {first_reason(result.stderr)}")
    found = {}
    for record in result.stdout.split("\0"):
        commit, _, message = record.lstrip("\n").partition("\n")
        if commit:
            found[commit] = message
    return found


def read_file_at(root: Path, commit: str, path: str) -> bytes | None:
    result = run_git(root, "cat-file", "blob", f"{commit}:{path}", text=False)
    return result.stdout if result.returncode == 0 else None


@dataclass(frozen=True)
class Touch:
    """One file that one commit changed, as `git log --raw` lists it."""

    commit: str
    day: str  # the commit's date as git prints it (%cs: YYYY-MM-DD)
    path: str  # relative to the folder git ran in
    old: str  # the blob before (all zeros: the commit added the file)
    new: str  # the blob after (all zeros: the commit deleted it)


def is_no_blob(blob: str) -> bool:
    """git's all-zero id: the file is absent on that side of a change."""
    return not blob.strip("0")


def _files_directly_in(folders: list[str]) -> list[str]:
    """Pathspecs for the files directly in each folder (relative, '' for the folder git runs
    in), not those in its subfolders; the folders' names are taken literally."""
    escaped = [re.sub(r"([*?\[\\])", r"\\\1", folder.strip("/")) for folder in folders]
    return [f":(glob){folder}/*" if folder else ":(glob)*" for folder in escaped]


HISTORY_TIMEOUT = 120  # seconds: a long history on a busy machine is slow, not stuck


def touches_since(root: Path, since: str, paths: set[str]) -> list[Touch]:
    """The changes to `paths` (files, relative to root) in the commits since `since`, newest
    commit first: the commits `git log --since -- PATHS` walks, a merge listing no file and
    a root commit every file as added (a rename comes as a delete and an add). Tree diffs
    only, no file's content read, with one pathspec per folder (git matches every pathspec
    against every file). [] when git cannot tell (no commit yet)."""
    spec = _files_directly_in(sorted({posixpath.dirname(path) for path in paths}))
    result = run_git(
        root, "log", f"--since={since}", "--format=%H %cs", "--raw", "-z", "--no-abbrev",
        "--no-renames", "--relative", "--", *spec, timeout=HISTORY_TIMEOUT,
    )  # fmt: skip
    if result.returncode != 0:
        return []
    found = []
    fields = iter(result.stdout.split("\0"))
    commit = day = ""
    for field in fields:  # "HASH DATE", then ":MODE MODE OLD NEW STATUS" and a path per file
        field = field.lstrip("\n")
        if field.startswith(":"):
            path = next(fields, "")
            if path in paths:
                parts = field[1:].split()
                found.append(Touch(commit, day, path, parts[2], parts[3]))
        elif field:
            commit, _, day = field.partition(" ")
    return found


BLOBS_AT_ONCE = 512  # a cat-file's output is held whole: so many blobs bound what it holds


def iter_blobs(root: Path, blobs: list[str]) -> Iterator[tuple[str, bytes]]:
    """Each blob's id and bytes, read by `git cat-file --batch`, a few hundred blobs a run
    so that only those are held at once (one that git does not have is left out)."""
    wanted = list(dict.fromkeys(blobs))
    for start in range(0, len(wanted), BLOBS_AT_ONCE):
        batch = "\n".join(wanted[start : start + BLOBS_AT_ONCE]) + "\n"
        output = run_git(
            root, "cat-file", "--batch", "--buffer", input=batch.encode(), text=False,
            timeout=HISTORY_TIMEOUT,
        ).stdout  # fmt: skip
        at = 0
        while (end := output.find(b"\n", at)) != -1:  # "ID blob SIZE\n", bytes, "\n"; "ID missing"
            header = output[at:end].split()
            at = end + 1
            if len(header) == 3 and header[2].isdigit():
                size = int(header[2])
                if header[1] == b"blob":
                    yield header[0].decode(), output[at : at + size]
                at += size + 1


_BINARY_PROBE = 8000  # git reads a file as binary (no line diff) if these bytes hold a NUL


def _lines_matching(blob: bytes, start: bytes, pattern: re.Pattern[bytes]) -> list[bytes] | None:
    """The lines of a file's version that start with `start` and match `pattern` there,
    sorted (None: a binary file to git). bytes.find jumps from one `start` to the next,
    many times faster than a ^-anchored regex over the whole text."""
    if b"\0" in blob[:_BINARY_PROBE]:
        return None
    found = []
    at = blob.find(start)
    while at != -1:
        if at == 0 or blob[at - 1] == 10:  # at the start of a line
            line = pattern.match(blob, at)
            if line:
                found.append(line.group())
        at = blob.find(start, at + 1)
    return sorted(found)


AS_BLOB_AT_MOST = 1 << 20  # bytes: a larger file's versions are read by git


def _as_blob_here(
    root: Path, path: str, wanted: set[str], sizes: set[int]
) -> tuple[str, bytes] | None:
    """(blob id, bytes) of the file at `path` as it is in the working tree, if it is the
    version of one of the `wanted` blobs (its bytes hash to that id, as `git hash-object`
    would hash them): reading it is ~20 times cheaper than `git cat-file` inflating it from
    a pack. None when it is not (edited, converted on checkout, absent), or is a link or
    not a regular file (never followed: safefile)."""
    from .safefile import read_regular_file

    try:
        data = read_regular_file(root / path, AS_BLOB_AT_MOST)
    except (EntryError, OSError):
        return None
    header = b"blob %d\0" % len(data)
    for digits in sizes:  # 40 hex digits: SHA-1; 64: SHA-256
        digest = (hashlib.sha1 if digits == 40 else hashlib.sha256)(header + data).hexdigest()
        if digest in wanted:
            return digest, data
    return None


def newest_line_changes(
    root: Path, since: str, paths: set[str], start: bytes, pattern: re.Pattern[bytes]
) -> dict[str, str]:
    """Per path, the date (YYYY-MM-DD) of the newest commit since `since` that added or
    removed a line starting with `start` that `pattern` matches (from there to the line's
    end: it is what is compared), as `git log -G`
    tells, a moved line aside, but without git reading the content of every file changed
    in the window (all of them, when the first commit added a whole KB): the commits'
    changes come from tree diffs (touches_since), then cat-file reads the versions before
    and after each change, compared by their matching lines."""
    touches = touches_since(root, since, paths)
    wanted = {blob for t in touches for blob in (t.old, t.new) if not is_no_blob(blob)}
    lines = {}
    sizes = {len(blob) for blob in wanted}  # the ids' lengths: which hash the repository uses
    for path in dict.fromkeys(t.path for t in touches):  # most are as the newest commit left them
        found = _as_blob_here(root, path, wanted, sizes)
        if found is not None:
            lines[found[0]] = _lines_matching(found[1], start, pattern)
    rest = [blob for blob in wanted if blob not in lines]
    lines.update(
        (blob, _lines_matching(data, start, pattern)) for blob, data in iter_blobs(root, rest)
    )

    def matching(blob: str) -> list[bytes] | None:
        if is_no_blob(blob):
            return []  # no file on this side: no line
        return lines.get(blob)  # None: binary, or not in this clone (git would skip it too)

    found: dict[str, str] = {}
    for touch in touches:  # newest commit first
        if touch.path not in found:
            before, after = matching(touch.old), matching(touch.new)
            if before is not None and after is not None and before != after:
                found[touch.path] = touch.day
    return found


UNTRACKED_BY_NAME = 64  # more untracked files than this are looked for by their folders


def uncommitted(root: Path, paths: set[str]) -> set[str]:
    """Those of `paths` (files, relative to root) that differ from the last commit, staged
    or not, or that git does not track (ignored ones aside). Without a commit yet, only the
    untracked ones. Read from the index, with one pathspec per folder (git matches every
    pathspec against every file): only files it does not track are looked for on disk."""
    spec = _files_directly_in(sorted({posixpath.dirname(path) for path in paths}))
    changed = run_git(root, "diff", "HEAD", "--name-only", "-z", "--relative", "--", *spec)
    found = set(changed.stdout.split("\0")) & paths if changed.returncode == 0 else set()
    tracked = run_git(root, "ls-files", "-z", "--", *spec)
    if tracked.returncode != 0:
        return found
    new = sorted(paths - set(tracked.stdout.split("\0")))
    if new:  # untracked, unless ignored: a few are named, many (none committed) walked for
        named = len(new) <= UNTRACKED_BY_NAME
        others = run_git(
            root, *(["--literal-pathspecs"] if named else []), "ls-files", "-z", "--others",
            "--exclude-standard", "--", *(new if named else spec),
        )  # fmt: skip
        found |= set(others.stdout.split("\0")) & paths if others.returncode == 0 else set()
    return found


def _untracked_cache_usable(root: Path) -> bool:
    """May `status` run with git's untracked cache? Where this clone's git config does not
    say otherwise (core.untrackedCache unset, or true), and not on Windows, whose FAT and
    network folders may leave a folder's time alone when a file is added in it (the cache
    rests on those times, as the freshness scan's folders do: docs/architecture.md)."""
    if os.name == "nt":
        return False
    setting = config_value(root, "core.untrackedCache")
    return setting is None or setting.lower() in ("true", "yes", "on", "1")


def working_changes(root: Path, under: str) -> list[tuple[str, str]]:
    """(code, path) of each file in the folder `under` (relative to root) that differs from
    HEAD, staged or not, or that git does not track (ignored ones aside), as `git status
    --porcelain --untracked-files=all -- UNDER` lists them (a rename or copy: its new path).

    Where the untracked cache is usable, git remembers each folder's untracked names by
    the folder's times and lists only the folders that changed: at 50,000 entries 0.18 s
    instead of 0.41 s. It needs `--untracked-files=normal` (a wholly untracked folder is
    listed as the folder, then its files are asked for) and no pathspec (a pathspec turns
    the cache off); the first such run adds the cache to git's index."""
    prefix = under.strip("/") + "/"
    if _untracked_cache_usable(root):
        output = git_ok(
            root, "-c", "core.untrackedCache=true", "status", "--porcelain=v1", "-z",
            "--untracked-files=normal",
        )  # fmt: skip
    else:
        output = git_ok(
            root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", under
        )
    found: list[tuple[str, str]] = []
    folders: list[str] = []
    fields = iter(output.split("\0"))
    for record in fields:
        if len(record) < 4:
            continue
        code, path = record[:2], record[3:]
        if code[0] in "RC":
            next(fields, None)  # the name it had
        if not (path + "/").startswith(prefix):
            continue
        if code == "??" and path.endswith("/"):
            folders.append(path)
        else:
            found.append((code, path))
    if folders:  # wholly untracked folders: their files, as --untracked-files=all lists them
        listed = git_ok(
            root, "--literal-pathspecs", "ls-files", "-z", "--others", "--exclude-standard",
            "--", *folders,
        )  # fmt: skip
        found += [("??", path) for path in listed.split("\0") if path]
    return found


def local_changes(root: Path) -> list[str]:
    """Tracked files with uncommitted changes, staged or not."""
    result = git_ok(root, "diff", "--name-only", "-z", "HEAD", "--")
    return [name for name in result.split("\0") if name]


def untracked(root: Path) -> list[str]:
    result = git_ok(root, "ls-files", "-z", "--others", "--exclude-standard")
    return [name for name in result.split("\0") if name]


def branch_exists(root: Path, branch: str) -> bool:
    return run_git(root, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}").returncode == 0


def delete_branch(root: Path, branch: str, expected: str) -> None:
    """Delete a branch cacop made, only if it still points where cacop left it."""
    run_git(root, "update-ref", "-d", f"refs/heads/{branch}", expected)


def config_value(root: Path, key: str) -> str | None:
    return run_git(root, "config", "--get", key).stdout.strip() or None


# ---------------------------------------------------------------- changing the repository


def cacop_settings(root: Path) -> dict[str, str]:
    """This clone's own cacop settings (`git config cacop.*`): key without prefix -> value.

    Every command reads them, so a plain `.git/config` is read directly (0.1 ms, where
    running git took 3-4 ms); anything git's parser would read otherwise (includes, quotes,
    escapes, a worktree's `.git` file, a `[cacop "sub"]` section) is left to git itself."""
    from .gitconfig import plain_cacop_settings

    found = plain_cacop_settings(root)
    if found is not None:
        return found
    result = run_git(root, "config", "--local", "--includes", "--get-regexp", r"^cacop\.")
    found = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        found[key.removeprefix("cacop.")] = value
    return found


def set_cacop_setting(root: Path, key: str, value: str) -> None:
    """Keep a cacop setting in this clone's git config (`git config cacop.KEY VALUE`)."""
    git_ok(root, "config", "--local", "--", f"cacop.{key}", value, what="keep a setting")


def fetch(root: Path, remote: str, branch: str | None = None, fix: str = "") -> None:
    """Fetch from a remote within a bounded time; GitError (exit 4) when it does not answer,
    or answers without `branch` (then `fix` says how to name the right one)."""
    remote_urls(root, remote)
    args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--end-of-options", remote]
    if branch:
        args.append(f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")
    result = run_git(root, *args, timeout=network_timeout())
    if result.returncode == 0:
        return
    if branch and "couldn't find remote ref" in result.stderr:  # it answered: not the network
        listed = run_git(root, "ls-remote", "--heads", "--end-of-options", remote,
                         timeout=network_timeout())  # fmt: skip
        names = [line.partition("refs/heads/")[2] for line in listed.stdout.splitlines()]
        raise MissingBranch(
            f"the remote {remote!r} has no branch {branch!r} (it has: "
            f"{', '.join(name for name in names if name) or 'no branches'})",
            hint=f"{fix}; nothing here was changed" if fix else "nothing here was changed",
        )
    raise GitError(
        f"cannot reach the remote {remote!r}: {first_reason(result.stderr)}",
        hint="check the network and `git remote -v`; nothing here was changed",
    )


# Temporary checkouts are named cacop-share-<pid>-<random> in the system's temp folder, so
# that the next cacop can tell its own leftovers (a process killed with SIGKILL) from the
# checkouts of a cacop still running, and remove them: they hold entries in plain text.
CHECKOUT_PREFIX = "cacop-share-"


@contextlib.contextmanager
def worktree(root: Path, commit: str) -> Iterator[Path]:
    """A temporary, detached checkout of a commit, outside the user's working tree."""
    parent = Path(tempfile.mkdtemp(prefix=f"{CHECKOUT_PREFIX}{os.getpid()}-"))
    place = parent / "tree"
    try:
        with sigint_deferred():
            git_ok(
                root,
                "worktree",
                "add",
                "--quiet",
                "--detach",
                str(place),
                commit,
                what="preparing a temporary checkout",
            )
        yield place.resolve()
    finally:
        with sigint_deferred():
            run_git(root, "worktree", "remove", "--force", "--force", str(place))
            shutil.rmtree(parent, ignore_errors=True)
            run_git(root, "worktree", "prune")


def _owner_gone(folder: str) -> bool:
    """Is `folder` (cacop-share-<pid>-…) a checkout whose cacop process no longer runs?"""
    return process_gone(folder.removeprefix(CHECKOUT_PREFIX).partition("-")[0])


def process_gone(pid: str) -> bool:
    """Has the cacop process `pid` (as a folder or file name holds it) ended? Never this
    one; a process of another user still runs."""
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it runs, as another user
        return False
    return False


def clear_leftovers(root: Path) -> list[str]:
    """Remove the temporary checkouts an earlier cacop left behind when it was killed: their
    registration in this clone and their folders in the temp folder (of any clone). Returns
    the folders removed. A checkout whose process still runs is left alone."""
    removed = []
    temp = Path(tempfile.gettempdir())
    listing = run_git(root, "worktree", "list", "--porcelain")
    registered = [
        Path(line.removeprefix("worktree "))
        for line in listing.stdout.splitlines()
        if line.startswith("worktree ")
    ]
    stale = [place for place in registered if place.parent.name.startswith(CHECKOUT_PREFIX)]
    for place in stale:
        if _owner_gone(place.parent.name):
            run_git(root, "worktree", "unlock", str(place))  # a kill mid-`add` leaves it locked
            run_git(root, "worktree", "remove", "--force", "--force", str(place))
            shutil.rmtree(place.parent, ignore_errors=True)
            removed.append(str(place.parent))
    with contextlib.suppress(OSError):
        for folder in temp.iterdir():
            if folder.name.startswith(CHECKOUT_PREFIX) and _owner_gone(folder.name):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
    if stale:
        run_git(root, "worktree", "prune")
    return sorted(set(removed))


def common_git_dir(root: Path) -> Path:
    """The clone's own .git folder (shared by all its worktrees)."""
    path = Path(git_ok(root, "rev-parse", "--git-common-dir").strip())
    return path if path.is_absolute() else root / path


def ensure_identity(root: Path) -> list[str]:
    """`-c` options giving git an author when the user has none configured."""
    options = []
    if not config_value(root, "user.name"):
        options += ["-c", "user.name=cacop"]
    if not config_value(root, "user.email"):
        options += ["-c", "user.email=cacop@localhost"]
    return options


def commit_paths(place: Path, paths: list[str], message: str) -> str:
    """Stage exactly these paths in a (temporary) checkout and commit them; the new commit."""
    git_ok(place, "add", "--all", "--", *paths, what="staging the entry")
    git_ok(
        place,
        *ensure_identity(place),
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        message,
        what="committing",
    )
    return git_ok(place, "rev-parse", "HEAD").strip()


def create_branch(root: Path, branch: str, commit: str) -> None:
    """Make a new branch at commit; refuses (GitError) if the branch appeared meanwhile."""
    check_branch_name(root, branch)
    git_ok(
        root,
        "update-ref",
        "-m",
        "cacop submit",
        f"refs/heads/{branch}",
        commit,
        "0" * 40,
        what=f"creating the branch {branch}",
    )


def rebase(place: Path, onto: str) -> list[str]:
    """Rebase the detached checkout onto a commit; on a conflict abort and return the files."""
    result = run_git(
        place,
        "-c",
        "core.hooksPath=/dev/null",
        "rebase",
        "--quiet",
        "--no-autostash",
        onto,
        timeout=120,
    )
    if result.returncode == 0:
        return []
    clashing = git_ok(place, "diff", "--name-only", "-z", "--diff-filter=U").split("\0")
    run_git(place, "rebase", "--abort")
    names = [name for name in clashing if name]
    return names or [first_reason(result.stderr) or "the rebase stopped"]


def move_branch_keeping_work(root: Path, branch: str, target: str) -> str | None:
    """Move the checked-out branch to target as `git checkout -B` does; git's reason if not.

    Uncommitted changes (staged or not) to files that target does not touch stay byte for
    byte and keep their staged state; if target would change one of them, nothing happens.
    """
    check_branch_name(root, branch)
    result = run_git(root, "checkout", "--quiet", "--no-track", "-B", branch, target, "--")
    if result.returncode == 0:
        return None
    return first_reason(result.stderr) or "git checkout refused"


@dataclass
class PushOutcome:
    ok: bool
    summary: str
    remote_messages: list[str]


def push(
    root: Path, remote: str, source: str, destination: str, env: dict[str, str] | None = None
) -> PushOutcome:
    """Push one ref without force; reads GitPython's PushInfo flags (push does not raise).
    `env` is added to the push's environment (a pre-push hook sees it)."""
    import git

    remote_urls(root, remote)
    check_branch_name(root, destination)
    repo = git.Repo(root)
    repo.git.update_environment(
        **{k: v for k, v in git_env().items() if k.startswith(("GIT", "SSH", "LC_"))}, **(env or {})
    )
    progress = git.RemoteProgress()
    refspec = f"{source}:refs/heads/{destination}"
    try:
        infos = repo.remote(remote).push(
            refspec, progress=progress, kill_after_timeout=network_timeout()
        )
    except git.GitCommandError as exc:
        reason = first_reason(str(exc.stderr or "")) or "git push failed"
        return PushOutcome(False, reason, _remote_lines(progress))
    except ValueError as exc:  # GitPython: no such remote
        raise GitError(f"cannot push: {exc}") from exc
    finally:
        repo.close()
    bad = git.PushInfo.ERROR | git.PushInfo.REJECTED | git.PushInfo.REMOTE_REJECTED
    bad |= git.PushInfo.REMOTE_FAILURE
    if not infos:
        return PushOutcome(False, "git reported nothing pushed", _remote_lines(progress))
    for info in infos:
        if info.flags & bad:
            return PushOutcome(False, info.summary.strip(), _remote_lines(progress))
    if getattr(infos, "error", None) is not None:
        return PushOutcome(False, first_reason(str(infos.error)), _remote_lines(progress))
    return PushOutcome(True, infos[0].summary.strip(), _remote_lines(progress))


def _remote_lines(progress) -> list[str]:
    lines = [*progress.error_lines, *progress.other_lines]
    return [
        line.strip() for line in lines if line.strip().startswith(("remote:", "error:", "fatal:"))
    ]


# ---------------------------------------------------------------- bundles


def bundle_create(root: Path, target: Path, tip_ref: str, since: str | None) -> None:
    spec = [f"^{since}", tip_ref] if since else [tip_ref]
    result = run_git(root, "bundle", "create", "--quiet", str(target), *spec, timeout=300)
    if result.returncode != 0:
        raise GitError(f"git bundle create failed: {first_reason(result.stderr)}")


def bundle_heads(root: Path, bundle: Path) -> dict[str, str]:
    """ref -> commit of a bundle file, after git verified that this clone can take it."""
    verify = run_git(root, "bundle", "verify", str(bundle), timeout=120)  # --quiet: no reason
    if verify.returncode != 0:
        if "does not look like a v2 or v3 bundle" in verify.stderr:
            raise GitError(
                f"{bundle.name} is not a bundle of a knowledge base",
                hint="ask for the file that `cacop bundle create` wrote; if it is that file, "
                "it was damaged on the way: ask for it again",
            )
        if "lacks these prerequisite commits" in verify.stderr:
            raise GitError(
                f"{bundle.name} cannot be applied here: it builds on commits this clone lacks",
                hint="ask for one made with an older --since, or a full bundle",
            )
        raise GitError(
            f"{bundle.name} cannot be applied here: {first_reason(verify.stderr)}",
            hint="ask the sending site to make the bundle again with `cacop bundle create`",
        )
    heads = {}
    for line in git_ok(root, "bundle", "list-heads", str(bundle)).splitlines():
        sha, _, ref = line.partition(" ")
        if ref.strip().startswith("refs/heads/"):  # branches; not HEAD or tags
            heads[ref.strip()] = sha
    return heads


def fetch_bundle(root: Path, bundle: Path, ref: str, into: str) -> str:
    git_ok(
        root,
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--end-of-options",
        str(bundle),
        f"+{ref}:{into}",
        what="reading the bundle",
    )
    return git_ok(root, "rev-parse", into).strip()
