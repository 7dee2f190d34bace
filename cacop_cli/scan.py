"""The freshness scan: which entry files exist, with their size and modification time.

Apart from the index (which compares the scan with its manifest), nothing here needs
more than the os module, so the console entry point can start the scan in a forked
process before Python loads the CLI (`start_early`): on a second core, the scan and the
~100 ms of loading Typer, Rich and our modules overlap instead of adding up.
"""

from __future__ import annotations

import marshal
import os
import stat

TYPE_CHECKING = False  # typing costs milliseconds; this module loads before anything else
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# From this many entry files, the freshness scan stats half of them in a forked process.
PARALLEL_SCAN_FROM = 3_000
# marshal's format 2 has no back-references (3 and later mark objects that are shared at
# the moment of writing), so equal scans in the same order always give equal bytes.
SCAN_FORMAT = 2
# models.ENTRY_FOLDERS, copied because this module loads before models may (a test holds
# the two equal).
_TOP_FOLDERS = ("strategies", "work-products", "rfis")
# Folders opened once and every name stat-ed relative to them: POSIX. Elsewhere (Windows),
# or where the attributes are missing, the scan goes by full paths instead.
_HAS_DIR_FD = (
    hasattr(os, "O_DIRECTORY") and hasattr(os, "O_NOFOLLOW") and os.stat in os.supports_dir_fd
)


# Racy files, as git calls them: a file whose modification time is this close to the moment
# its size and time were written down could be changed again within the same tick of the
# file system's clock (FAT: 2 s; ext4 and overlayfs stamp ns, but from a clock that moves
# every few ms), keeping size and time; the scan could not tell. The manifest records such a
# file with mtime RACY, which no scan gives: the next check finds it changed and reads it
# again (once it has aged, it is written down as it is). docs/architecture.md, "Freshness".
RACY_NS = 2_000_000_000
RACY = -1


def settled(scan: dict[str, list[int]], now_ns: int) -> dict[str, list[int]]:
    """The scan as a manifest written at `now_ns` keeps it: racy files' mtimes made RACY."""
    limit = now_ns - RACY_NS
    return {path: stats if stats[1] < limit else [stats[0], RACY] for path, stats in scan.items()}


def dump(scan: dict[str, list[int]]) -> bytes:
    """A scan as bytes, the same bytes for the same scan: the index keeps its manifest so,
    and the freshness check compares bytes instead of loading both sides."""
    return marshal.dumps(scan, SCAN_FORMAT)


def scan_entries(root: str | os.PathLike[str]) -> dict[str, list[int]]:
    """Every entry file (relative path -> size, mtime_ns), by listing folders and stat-ing files.

    Follows entries.iter_entry_files: kb/strategies/*.md, kb/work-products/*.md,
    kb/rfis/*.md and kb/rfis/<id>/responses/*.md. Symbolic links are not followed.
    This is the freshness check's whole cost: one stat per entry file, about 4 us in
    CPython here (the system call is under half of it; building the stat result is the
    rest), so each name is stat-ed relative to its open folder (dir_fd, no path walk),
    and in a large KB a forked process stats every other file on the second core.
    """
    base = f"{root}/kb"
    listed: list[tuple[str, str, list[str]]] = []
    rfi_folders: list[str] = []
    for folder in _TOP_FOLDERS:
        try:
            names = os.listdir(f"{base}/{folder}")
        except OSError:  # missing, or not a folder
            continue
        listed.append((folder, f"kb/{folder}", [n for n in names if _entry_name(n)]))
        if folder == "rfis":  # an RFI's folder (any name, as iter_entry_files walks them)
            rfi_folders = [name for name in names if not name.endswith(".md")]
    size = sum(len(names) for _, _, names in listed) + 2 * len(rfi_folders)
    if size < PARALLEL_SCAN_FROM:
        return _stat_files(base, listed, rfi_folders)
    theirs = ([(f, p, names[1::2]) for f, p, names in listed], rfi_folders[1::2])
    collect = _in_second_process(lambda: _stat_files(base, *theirs))
    found = _stat_files(base, [(f, p, names[0::2]) for f, p, names in listed], rfi_folders[0::2])
    other = collect()
    found.update(other if other is not None else _stat_files(base, *theirs))
    return found


def _entry_name(name: str) -> bool:
    """An entry file's name, as entries.iter_entry_files takes it. Whatever is there under
    that name but a folder is scanned (its own lstat, links not followed): a link, a FIFO
    or a device is then indexed as an unreadable file, so the catalog lists it as
    `validate` reading the files would, instead of passing over it."""
    return name.endswith(".md") and name[0] != "."


def _stat_files(
    base: str, listed: list[tuple[str, str, list[str]]], rfi_folders: list[str]
) -> dict[str, list[int]]:
    """Stat the listed names, and list and stat kb/rfis/<name>/responses of `rfi_folders`
    (names that are not folders, or are links, are passed over)."""
    if not _HAS_DIR_FD:
        return _stat_files_by_path(base, listed, rfi_folders)
    found: dict[str, list[int]] = {}
    stat = os.stat
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW  # type: ignore[attr-defined]
    work: list[tuple[str, str, list[str] | None]] = [*listed]
    work += [(f"rfis/{name}", f"kb/rfis/{name}/responses", None) for name in rfi_folders]
    for folder, prefix, names in work:
        try:
            fd = os.open(f"{base}/{folder}", flags)
        except OSError:  # gone since it was listed, a file, or a link
            continue
        try:
            if names is None:  # an RFI's folder: its responses
                inner = os.open("responses", flags, dir_fd=fd)
                os.close(fd)
                fd = inner
                names = [n for n in os.listdir(fd) if _entry_name(n)]
            for name in names:
                try:
                    info = stat(name, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue
                if info.st_mode & 0o170000 != 0o040000:  # see _entry_name
                    found[f"{prefix}/{name}"] = [info.st_size, info.st_mtime_ns]
        except OSError:
            continue
        finally:
            os.close(fd)
    return found


def _stat_files_by_path(
    base: str, listed: list[tuple[str, str, list[str]]], rfi_folders: list[str]
) -> dict[str, list[int]]:
    """_stat_files where folders cannot be opened (Windows: no O_DIRECTORY, no dir_fd):
    the same answer by full paths, with links passed over by lstat."""
    found: dict[str, list[int]] = {}
    work: list[tuple[str, str, list[str] | None]] = [*listed]
    work += [(f"rfis/{name}", f"kb/rfis/{name}/responses", None) for name in rfi_folders]
    for folder, prefix, names in work:
        where = f"{base}/{folder}" if names is not None else f"{base}/{folder}/responses"
        try:
            if not _is_real_folder(f"{base}/{folder}") or not _is_real_folder(where):
                continue
            if names is None:
                names = [n for n in os.listdir(where) if _entry_name(n)]
        except OSError:
            continue
        for name in names:
            try:
                info = os.lstat(f"{where}/{name}")
            except OSError:
                continue
            if info.st_mode & 0o170000 != 0o040000:  # see _entry_name
                found[f"{prefix}/{name}"] = [info.st_size, info.st_mtime_ns]
    return found


def _is_real_folder(path: str) -> bool:
    """A folder, not a link to one (nor a Windows junction, which lstat reports as a link)."""
    try:
        return os.lstat(path).st_mode & 0o170000 == 0o040000
    except OSError:
        return False


def _in_second_process(work: Callable[[], Any], as_bytes: bool = False) -> Callable[[], Any]:
    """Start `work()` in a forked child; the returned function waits for its result (None
    if there is none: no fork here, threads running, or the child failed), or for the
    result as `dump` writes it if `as_bytes`. The child only calls the OS and marshal,
    writes to a pipe and leaves with os._exit: no atexit, no buffered output of ours
    written twice."""
    import sys

    threading = sys.modules.get("threading")
    if not hasattr(os, "fork") or (threading and threading.active_count() > 1):
        return lambda: None
    try:
        reading, writing = os.pipe()
        pid = os.fork()
    except OSError:
        return lambda: None
    if pid == 0:  # the child
        code = 1
        try:
            os.close(reading)
            quiet = os.open(os.devnull, os.O_RDWR)  # it never reads or prints; and holding
            for standard in (0, 1, 2):  # our stdout open would keep `$(cacop …)` waiting
                os.dup2(quiet, standard)
            data = marshal.dumps(work(), SCAN_FORMAT)
            view = memoryview(data)
            while view:
                view = view[os.write(writing, view) :]
            code = 0
        finally:
            os._exit(code)
    os.close(writing)

    def result() -> Any:
        with os.fdopen(reading, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            return None
        if as_bytes:
            return data
        try:
            return marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            return None

    result.pipe = reading  # type: ignore[attr-defined]  # readable once the child writes
    return result


# ---------------------------------------------------------------- started before the CLI loads

CONFIG_NAME = "cacop.yaml"
# The commands that bring the index up to date first: search, and those that read the
# catalog kept with it (`rfi` is every rfi command: those that write only leave a core
# busy). `index --rebuild` and `validate --no-cache` refresh nothing: no early scan.
REFRESHING = (
    "search", "index", "similar", "list", "rfi", "status", "gaps", "experts", "digest",
    "validate",
)  # fmt: skip
_early: tuple[str, Callable[[], Any]] | None = None


def start_early(args: list[str]) -> None:
    """Start the scan of the KB that `cacop ARGS` will refresh, in a forked process.

    Called by the console entry point before anything else is imported. The KB is found
    by find_kb, as config.find_root finds it (--kb, CACOP_KB, then cacop.yaml at or above
    the current folder); `take` hands the result only to a refresh of that same folder, so a wrong
    guess costs nothing but the second core's time. Anything unexpected: no early scan.
    """
    global _early
    try:
        root = _early_root(args)
        if root is not None:
            _early = (root, _in_second_process(lambda: scan_entries(root), as_bytes=True))
    except Exception:  # never in the way of the command itself
        _early = None


def running(root: object) -> bool:
    """Is the early scan of this KB root still running (nothing from it to read yet)?"""
    if _early is None or _early[0] != str(root):
        return False
    import select

    pipe = getattr(_early[1], "pipe", None)
    return pipe is not None and not select.select([pipe], [], [], 0)[0]


def take(root: object) -> bytes | None:
    """The early scan as `dump` writes it, if one was started for this KB root (else None:
    scan now). Not loaded here: if it equals the manifest's bytes, it never needs to be."""
    global _early
    if _early is None:
        return None
    started_for, collect = _early
    _early = None
    found = collect()  # waits for the child; a scan of another folder is read and dropped
    return found if started_for == str(root) and isinstance(found, bytes) else None


def command_word(args: list[str]) -> str | None:
    """The command that `cacop ARGS` runs: the first word that is not an option or --kb's
    value (the root's only option with a value)."""
    for number, arg in enumerate(args):
        if not arg.startswith("-") and args[number - 1 : number] != ["--kb"]:
            return arg
    return None


def _early_root(args: list[str]) -> str | None:
    chosen = None
    for number, arg in enumerate(args):
        if arg == "--kb" and number + 1 < len(args):
            chosen = args[number + 1]
        elif arg.startswith("--kb="):
            chosen = arg[len("--kb=") :]
    if command_word(args) not in REFRESHING or {"--help", "--rebuild", "--no-cache"} & {*args}:
        return None
    return find_kb(chosen or os.environ.get("CACOP_KB"), os.getcwd())


def _holds_config(folder: str) -> bool:
    """Is there a cacop.yaml in `folder`? Anything but a folder counts, even a link or a
    pipe: load_kb then refuses it by name, rather than "no knowledge base here"."""
    try:
        return not stat.S_ISDIR(os.lstat(os.path.join(folder, CONFIG_NAME)).st_mode)
    except OSError:
        return False


def find_kb(chosen: str | os.PathLike[str] | None, cwd: str | os.PathLike[str]) -> str | None:
    """The KB root: `chosen` (--kb or CACOP_KB) if it holds cacop.yaml, else with nothing
    chosen the nearest folder at or above `cwd` that does; None if there is none.
    config.find_root is this with its error messages; the entry point calls it directly."""
    if chosen:
        root = os.path.realpath(os.path.expanduser(chosen))
        return root if _holds_config(root) else None
    folder = os.path.realpath(cwd)
    while True:
        if _holds_config(folder):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
