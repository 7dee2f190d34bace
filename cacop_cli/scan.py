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
RFI_FOLDER_COST = 4  # an RFI folder's responses folder (opened, read) against a file's stat
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
# again (once it has aged, it is written down as it is). The same holds for a folder, whose
# kept listing is then not used. docs/architecture.md, "Racy files".
RACY_NS = 2_000_000_000
RACY = -1
# POSIX: st_ctime_ns is the time of the inode's last change, set by the system whenever the
# file or folder changes (content, mtime, links, mode) and never settable by a user, so a
# same-size edit whose mtime was put back (`touch -r`, `cp -p`, `rsync -t`) still shows.
# On Windows st_ctime is the creation time: not kept there.
_HAS_CTIME = os.name != "nt"
# A folder whose (mtime, ctime) equals the kept one is not listed again: its names come from
# the manifest (each file is still stat-ed: an edit in place changes no folder). POSIX makes
# every create, delete and rename in a folder update its mtime and ctime; a file system that
# does not (FAT written by Windows) is caught by the periodic full check: each check lists
# one in this many of the folders anyway, a slice chosen at random, so a folder whose change
# went unseen is listed within a few dozen checks. docs/architecture.md, "Fresh".
FULL_CHECK_SLICES = 16


def _times(info: os.stat_result) -> list[int]:
    """What is kept of a file's or folder's times: mtime, and ctime where it means a change."""
    return [info.st_mtime_ns, info.st_ctime_ns] if _HAS_CTIME else [info.st_mtime_ns]


def settled(tree: dict[str, Any], now_ns: int) -> dict[str, Any]:
    """The scan as a manifest written at `now_ns` keeps it: the mtime of racy files and
    folders (changed, by mtime or ctime, within RACY_NS of `now_ns`) made RACY."""
    limit = now_ns - RACY_NS
    kept: dict[str, Any] = {}
    for folder, found in tree.items():
        if found is None:
            kept[folder] = None
            continue
        times, files = found
        kept[folder] = [
            times if max(times) < limit else [RACY, *times[1:]],
            {
                name: stats if max(stats[1:]) < limit else [stats[0], RACY, *stats[2:]]
                for name, stats in files.items()
            },
        ]
    return kept


def files_of(tree: dict[str, Any]) -> dict[str, list[int]]:
    """The entry files of a scan (or of a manifest): relative path -> [size, mtime(, ctime)]."""
    found: dict[str, list[int]] = {}
    for folder, listed in tree.items():
        if listed:
            prefix = f"{folder}/"
            for name, stats in listed[1].items():
                found[prefix + name] = stats
    return found


def dump(tree: dict[str, Any]) -> bytes:
    """A scan as bytes, the same bytes for the same scan: the index keeps its manifest so,
    and the freshness check compares bytes instead of loading both sides."""
    return marshal.dumps(tree, SCAN_FORMAT)


def scan_entries(root: str | os.PathLike[str]) -> dict[str, list[int]]:
    """Every entry file (relative path -> [size, mtime_ns(, ctime_ns)]): a full scan_tree."""
    return files_of(scan_tree(root))


def scan_tree(root: str | os.PathLike[str], hint: Any = None) -> dict[str, Any]:
    """Every scanned folder (relative path -> [its times, {entry file name -> its stats}], or
    None for an RFI folder without a readable responses folder), in a fixed order.

    Follows entries.iter_entry_files: kb/strategies/*.md, kb/work-products/*.md,
    kb/rfis/*.md and kb/rfis/<id>/responses/*.md. Symbolic links are not followed.
    `hint`: a manifest (a scan as the index kept it). A folder whose times equal the
    hint's is not listed: its names are the hint's (docs/architecture.md, "Fresh"). The
    caller must know the hint is the manifest it compares with; a wrong hint can hide
    files from this scan, never add any. Each file is stat-ed relative to its open folder
    (dir_fd, no path walk), about 3 us each in CPython, and in a large KB a forked process
    stats half of them on the second core.
    """
    base = f"{root}/kb"
    if not _HAS_DIR_FD:
        return _tree_by_path(base)
    hint = hint if isinstance(hint, dict) else {}
    anyway = _listed_anyway()
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW  # type: ignore[attr-defined]
    tops: list[tuple[str, int, list[int], list[str]]] = []
    candidates: list[str] = []
    rfis = -1
    try:
        for number, folder in enumerate(_TOP_FOLDERS):
            rel = f"kb/{folder}"
            try:
                fd = os.open(f"{base}/{folder}", flags)
            except OSError:  # missing, a file, or a link
                continue
            try:
                times = _times(os.fstat(fd))
                kept = _kept_names(hint, rel, times, number % FULL_CHECK_SLICES == anyway)
                listed = None if kept is not None else sorted(os.listdir(fd))
            except OSError:
                os.close(fd)
                continue
            names = kept if listed is None else [n for n in listed if _entry_name(n)]
            tops.append((rel, fd, times, names))
            if folder == "rfis":  # an RFI's folder (any name, as iter_entry_files walks them)
                rfis = fd
                if listed is None:  # each was written down, with or without responses
                    candidates = [rel[8:-10] for rel in hint if _is_responses(rel)]
                else:
                    candidates = [name for name in listed if not name.endswith(".md")]
        size = sum(len(names) for *_, names in tops) + 2 * len(candidates)
        start = len(_TOP_FOLDERS)
        if size < PARALLEL_SCAN_FROM:
            files, responses = _stat_part(tops, rfis, candidates, start, hint, anyway)
        else:
            # Whole folders a side (two processes stat-ing names of the same folder slowed
            # each other: 120 ms against 93 ms for 50,000 files), the child taking the top
            # folders after the first and the RFI folders after `half`, so the two sides
            # are near equal (an RFI folder costs about as much as RFI_FOLDER_COST files).
            mine_size = len(tops[0][3]) if tops else 0
            their_size = sum(len(names) for *_, names in tops[1:])
            cost = len(candidates) * RFI_FOLDER_COST + their_size - mine_size
            half = max(0, min(len(candidates), cost // (2 * RFI_FOLDER_COST)))
            theirs = (
                [(rel, fd, times, names if number else []) for number, (rel, fd, times, names)
                 in enumerate(tops)],
                rfis, candidates[half:], start + half, hint, anyway,
            )  # fmt: skip
            kept = _as_kept(hint, [rel for rel, *_ in tops[1:]], candidates[half:])
            collect = in_second_process(lambda: _unless_kept(_stat_part(*theirs), kept))
            mine = [
                (rel, fd, times, [] if number else names)
                for number, (rel, fd, times, names) in enumerate(tops)
            ]
            files, responses = _stat_part(mine, rfis, candidates[:half], start, hint, anyway)
            other = collect()
            if other == AS_KEPT and kept is not None:
                other = kept
            other_files, other_responses = other if other is not None else _stat_part(*theirs)
            for own, more in zip(files, other_files, strict=True):
                own.update(more)
            responses.update(other_responses)
    finally:
        for _, fd, _, _ in tops:
            os.close(fd)
    tree: dict[str, Any] = {
        rel: [times, found] for (rel, _, times, _), found in zip(tops, files, strict=True)
    }
    tree.update(responses)
    return tree


AS_KEPT = "as kept"  # what the second process sends when its part is the hint's own


def _as_kept(
    hint: dict[str, Any], tops: list[str], candidates: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The second process's part of the scan (the files of the top folders `tops`, after
    the first, and the RFI folders `candidates`) as the hint keeps it, or None when the
    hint does not hold all of them."""
    try:
        files = [{}] + [hint[rel][1] for rel in tops]
        responses = {
            f"kb/rfis/{name}/responses": hint[f"kb/rfis/{name}/responses"] for name in candidates
        }
    except (KeyError, TypeError, IndexError):
        return None
    return files, responses


def _unless_kept(part: Any, kept: Any) -> Any:
    """The second process's part, or AS_KEPT when it equals `kept`, its part of the hint
    (nothing changed: ~3 MB at 50,000 entries neither dumped, piped nor loaded). Equal in
    another order: a forged hint, not trusted; its dump would differ, and be compared."""
    return AS_KEPT if kept is not None and part == kept else part


def _is_responses(rel: object) -> bool:
    """A kept RFI folder's key, kb/rfis/<name>/responses (its name: rel[8:-10])."""
    return (
        isinstance(rel, str) and rel.startswith("kb/rfis/") and rel.endswith("/responses")
        and "/" not in rel[8:-10]
    )  # fmt: skip


def _kept_names(hint: dict[str, Any], rel: str, times: list[int], anyway: bool) -> Any:
    """The names the hint keeps for the folder at `rel`, if the folder's times are the kept
    ones (a racy folder's never are: RACY is no time) and it is not in this check's slice
    of the periodic full check (`anyway`); else None: list it."""
    if anyway:
        return None
    try:
        kept_times, files = hint[rel]
        if kept_times == times and isinstance(files, dict):
            return list(files)  # a forged name only misleads a scan that is then not used
    except (KeyError, TypeError, ValueError):
        pass
    return None


def _listed_anyway() -> int:
    """This check's slice of folders listed whatever their times (see FULL_CHECK_SLICES)."""
    return os.urandom(1)[0] % FULL_CHECK_SLICES


def _entry_name(name: str) -> bool:
    """An entry file's name, as entries.iter_entry_files takes it. Whatever is there under
    that name but a folder is scanned (its own lstat, links not followed): a link, a FIFO
    or a device is then indexed as an unreadable file, so the catalog lists it as
    `validate` reading the files would, instead of passing over it."""
    return name.endswith(".md") and name[0] != "."


def _stat_part(
    tops: list[tuple[str, int, list[int], list[str]]],
    rfis: int,
    candidates: list[str],
    start: int,
    hint: dict[str, Any],
    anyway: int,
) -> tuple[list[dict[str, list[int]]], dict[str, Any]]:
    """Stat the named files of the open top folders, and find and stat the responses of
    the RFI folders `candidates` (numbered from `start` for the full check's slices)."""
    files = [_stat_names(fd, names) for _, fd, _, names in tops]
    responses: dict[str, Any] = {}
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW  # type: ignore[attr-defined]
    for number, name in enumerate(candidates, start):
        rel = f"kb/rfis/{name}/responses"
        responses[rel] = None
        try:  # two lstats, no open: 8,000 RFI folders at 50,000 entries
            if not stat.S_ISDIR(os.stat(name, dir_fd=rfis, follow_symlinks=False).st_mode):
                continue  # a file, a link
            info = os.stat(f"{name}/responses", dir_fd=rfis, follow_symlinks=False)
        except OSError:  # gone, or no responses folder
            continue
        if not stat.S_ISDIR(info.st_mode):
            continue
        times = _times(info)
        kept = _kept_names(hint, rel, times, number % FULL_CHECK_SLICES == anyway)
        if kept is not None:  # by path from the RFIs' folder: both folders were just lstat-ed
            responses[rel] = [times, _stat_names(rfis, kept, f"{name}/responses/")]
            continue
        try:  # to be listed: opened, links not followed
            outer = os.open(name, flags, dir_fd=rfis)
        except OSError:
            continue
        try:
            fd = os.open("responses", flags, dir_fd=outer)
        except OSError:
            continue
        finally:
            os.close(outer)
        try:
            times = _times(os.fstat(fd))
            kept = [n for n in sorted(os.listdir(fd)) if _entry_name(n)]
            responses[rel] = [times, _stat_names(fd, kept)]
        except OSError:
            continue
        finally:
            os.close(fd)
    return files, responses


def _stat_names(fd: int, names: list[str], prefix: str = "") -> dict[str, list[int]]:
    """name -> [size, mtime(, ctime)] of the names in the open folder `fd` (or in its
    sub-folder `prefix`) that are there and are not folders (see _entry_name)."""
    found: dict[str, list[int]] = {}
    stat = os.stat
    with_ctime = _HAS_CTIME
    for name in names:
        try:
            info = stat(prefix + name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue
        if info.st_mode & 0o170000 != 0o040000:
            if with_ctime:
                found[name] = [info.st_size, info.st_mtime_ns, info.st_ctime_ns]
            else:
                found[name] = [info.st_size, info.st_mtime_ns]
    return found


def _tree_by_path(base: str) -> dict[str, Any]:
    """scan_tree where folders cannot be opened (Windows: no O_DIRECTORY, no dir_fd): the
    same answer by full paths, with links passed over by lstat, every folder listed (no
    hint: a folder's times there are not trusted to tell a change, see "Fresh")."""
    tree: dict[str, Any] = {}
    candidates: list[str] = []
    for folder in _TOP_FOLDERS:
        where = f"{base}/{folder}"
        try:
            info = os.lstat(where)
            if info.st_mode & 0o170000 != 0o040000:
                continue
            listed = sorted(os.listdir(where))
        except OSError:
            continue
        tree[f"kb/{folder}"] = [_times(info), _lstat_names(where, listed)]
        if folder == "rfis":
            candidates = [name for name in listed if not name.endswith(".md")]
    for name in candidates:
        rel = f"kb/rfis/{name}/responses"
        tree[rel] = None
        where = f"{base}/rfis/{name}/responses"
        try:
            if not _is_real_folder(f"{base}/rfis/{name}"):
                continue
            info = os.lstat(where)
            if info.st_mode & 0o170000 != 0o040000:
                continue
            listed = sorted(os.listdir(where))
        except OSError:
            continue
        tree[rel] = [_times(info), _lstat_names(where, listed)]
    return tree


def _lstat_names(where: str, listed: list[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for name in listed:
        if not _entry_name(name):
            continue
        try:
            info = os.lstat(f"{where}/{name}")
        except OSError:
            continue
        if info.st_mode & 0o170000 != 0o040000:  # see _entry_name
            found[name] = [info.st_size, *_times(info)]
    return found


def _is_real_folder(path: str) -> bool:
    """A folder, not a link to one (nor a Windows junction, which lstat reports as a link)."""
    try:
        return os.lstat(path).st_mode & 0o170000 == 0o040000
    except OSError:
        return False


def in_second_process(work: Callable[[], Any], as_bytes: bool = False) -> Callable[[], Any]:
    """Start `work()` in a forked child; the returned function waits for its result (None
    if there is none: no fork here, threads running, or the child failed), passed as
    marshal data, or as the bytes it is if `as_bytes`. The child only calls the OS and marshal,
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
            data = work() if as_bytes else marshal.dumps(work(), SCAN_FORMAT)
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
            _early = (root, in_second_process(lambda: _early_scan(root), as_bytes=True))
    except Exception:  # never in the way of the command itself
        _early = None


def running(root: object) -> bool:
    """Is the early scan of this KB root still running (nothing from it to read yet)?"""
    if _early is None or _early[0] != str(root):
        return False
    import select

    pipe = getattr(_early[1], "pipe", None)
    return pipe is not None and not select.select([pipe], [], [], 0)[0]


def take(root: object) -> tuple[bytes, bytes] | None:
    """The early scan, if one was started for this KB root (else None: scan now): the scan
    as `dump` writes it (not loaded here: if it equals the manifest's bytes, it never needs
    to be), or SAME_AS_HINT when it found what its hint keeps, and `identity` of the
    manifest it took its hint from (NO_HINT: none)."""
    global _early
    if _early is None:
        return None
    started_for, collect = _early
    _early = None
    found = collect()  # waits for the child; a scan of another folder is read and dropped
    if started_for != str(root) or not isinstance(found, bytes) or len(found) < _IDENTITY:
        return None
    return found[_IDENTITY:], found[:_IDENTITY]


# The early scan runs before anything is verified: it takes the live manifest as a hint
# only (found through the record, unchecked), and says which bytes it took (their SHA-256);
# the refresh uses the scan only if they are the manifest of the record it verified, or if
# the scan's bytes equal that manifest's: a folder the hint kept is then listed in the
# manifest with the same names and times, as a scan hinted by the manifest itself finds it.
STATE_DIR = ".cacop"
RECORD = "record.json"
MANIFEST = "manifest.marshal"
_IDENTITY = 32
NO_HINT = bytes(_IDENTITY)


def identity(manifest: bytes | None) -> bytes:
    """What the early scan reports of the manifest it took as a hint."""
    import hashlib

    return NO_HINT if manifest is None else hashlib.sha256(manifest).digest()


SAME_AS_HINT = b""  # the early scan's bytes when it found what its hint keeps (no dump is empty)


def _early_scan(root: str) -> bytes:
    """In the forked child: the hint's identity, then the scan's bytes, or SAME_AS_HINT
    when the scan equals the hint (the usual case: nothing changed), so that neither the
    dump (~20 ms at 50,000 entries) nor the 5 MB through the pipe is paid for."""
    held = _live_manifest(root)
    try:
        hint = marshal.loads(held) if held is not None else None
    except (EOFError, ValueError, TypeError):
        hint, held = None, None
    tree = scan_tree(root, hint)
    if hint is not None and tree == hint:
        return identity(held) + SAME_AS_HINT
    return identity(held) + dump(tree)


def _live_manifest(root: str) -> bytes | None:
    """The bytes of the manifest the record names, unchecked (a hint), or None."""
    try:
        with open(f"{root}/{STATE_DIR}/{RECORD}", "rb") as handle:
            record = handle.read()
        at = record.index(b'"generation": "gen-') + len(b'"generation": "')
        generation = record[at : at + 20].decode("ascii")
        if not generation[4:].isalnum():
            return None
        with open(f"{root}/{STATE_DIR}/{generation}/{MANIFEST}", "rb") as handle:
            return handle.read()
    except (OSError, ValueError):
        return None


def command_word(args: list[str]) -> str | None:
    """The command that `cacop ARGS` runs: the first of its words (_words)."""
    return next(iter(_words(args)), None)


def _words(args: list[str]) -> list[str]:
    """The arguments that are neither options nor the value of --kb (the root's only option
    with a value): the command, then its own."""
    return [arg for number, arg in enumerate(args)
            if not arg.startswith("-") and args[number - 1 : number] != ["--kb"]]  # fmt: skip


def _early_root(args: list[str]) -> str | None:
    chosen = None
    for number, arg in enumerate(args):
        if arg == "--kb" and number + 1 < len(args):
            chosen = args[number + 1]
        elif arg.startswith("--kb="):
            chosen = arg[len("--kb=") :]
    word = command_word(args)
    if word not in (*REFRESHING, "show") or {"--help", "--rebuild", "--no-cache"} & {*args}:
        return None
    root = find_kb(chosen or os.environ.get("CACOP_KB"), os.getcwd())
    if word == "show" and root is not None and _names_an_entry_file(root, args):
        return None  # `show ID` opens that file alone: no index, no scan
    return root


def _names_an_entry_file(root: str, args: list[str]) -> bool:
    """Does `show`'s argument name a top folder's entry file? (Any other name is resolved
    from the listing, after its freshness check: worth starting early.)"""
    _, named, *_ = [*_words(args), "", ""]  # show's argument, after the command word
    if not named or "/" in named or "\\" in named or named.startswith("."):
        return True  # nothing to resolve, or refused before any lookup
    return any(os.path.isfile(f"{root}/kb/{folder}/{named}.md") for folder in _TOP_FOLDERS)


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
