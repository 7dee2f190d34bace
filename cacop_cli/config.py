"""Finding the KB and its settings: flag > environment > walking up > defaults."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schemas
from .errors import ConfigError, EntryError, KBNotFound
from .scan import CONFIG_NAME, find_kb

DEFAULT_LIMITS = {
    "entry_bytes": 1_048_576,
    "frontmatter_bytes": 65_536,
    "attachment_bytes": 25 * 1_048_576,
}
SETTINGS_MAX_BYTES = 1_048_576  # cacop.yaml, kb/sites.yaml, kb/vocabulary.yaml: a few KB each


def read_settings(path: Path) -> str:
    """The text of a settings file, read as entries are read: never through a link, never
    a pipe or a device, at most SETTINGS_MAX_BYTES. These files arrive by pull like any
    entry, and a link to /dev/zero must be an error naming the file, not a MemoryError.

    FileNotFoundError when there is no such file (callers decide what missing means);
    EntryError (with its code and message) for anything else.
    """
    from .safefile import read_regular_file

    if not os.path.lexists(path):
        raise FileNotFoundError(path)
    return settings_text(read_regular_file(path, SETTINGS_MAX_BYTES, "settings file"))


def settings_text(data: bytes) -> str:
    """A settings file's bytes as text; EntryError when they are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EntryError("encoding", f"is not UTF-8 text (byte {exc.start})") from exc


@dataclass
class KB:
    """A knowledge base on disk and its settings."""

    root: Path
    name: str
    site: str
    remote: str = "origin"
    branch: str = "main"
    share_max_tlp: str = "green"  # cacop.yaml's share.max_tlp; read it through `max_tlp`
    email_allowlist: tuple[str, ...] = ()  # share.email_allowlist: mail domains not personal
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    settings: dict[str, Any] = field(default_factory=dict)
    analyst: str | None = None  # `cacop config name`: the default author of new entries
    local_max_tlp: str | None = None  # `cacop config max-tlp`: this clone's or user's own line
    confirmed_max_tlp: str | None = None  # the loosest cacop.yaml line this clone accepted
    origins: dict[str, str] = field(default_factory=dict)  # site/name/max_tlp -> where from
    notices: list[str] = field(default_factory=list)  # said once on stderr by the command

    @property
    def kb_dir(self) -> Path:
        return self.root / "kb"

    @property
    def state_dir(self) -> Path:
        return self.root / ".cacop"

    @property
    def max_tlp(self) -> str:
        """The effective line: the most sensitive TLP that may leave this clone, whether
        pushed (`submit`, `sync`) or written for others (`digest`, `gaps`, `experts`).

        The strictest of cacop.yaml's `share.max_tlp` (never looser than the value this
        clone confirmed: a pulled commit cannot loosen it) and the local setting.
        """
        from .models import tlp_rank

        lines = [self.share_max_tlp, self.confirmed_max_tlp, self.local_max_tlp]
        return min((line for line in lines if line), key=tlp_rank)


def find_root(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """--kb PATH, else CACOP_KB, else the nearest folder at or above cwd with cacop.yaml."""
    chosen = explicit or os.environ.get("CACOP_KB")
    found = find_kb(chosen, cwd or Path.cwd())
    if found:
        return Path(found)
    if chosen:
        source = "--kb" if explicit else "CACOP_KB"
        raise KBNotFound(
            f"{Path(chosen).expanduser().resolve()} is not a cacop knowledge base "
            f"(no {CONFIG_NAME}) — given by {source}",
            hint="point it at the folder that holds cacop.yaml, or run `cacop init PATH`",
        )
    raise KBNotFound(
        f"no knowledge base here: no {CONFIG_NAME} in {(cwd or Path.cwd()).resolve()} "
        "or any folder above it",
        hint="cd into a KB, pass --kb PATH, set CACOP_KB, or create one with `cacop init PATH`",
    )


USER_KEYS = ("site", "name", "max_tlp")  # what the user's config.yaml may hold


def user_config_path() -> Path:
    """The user's own config.yaml: platformdirs' user config folder for cacop.

    On Linux that is the XDG rule, spelled out here because every command reads the file
    and importing platformdirs cost seven modules; a test holds the two equal."""
    if sys.platform.startswith("linux"):
        base = os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
        return Path(base) / "cacop" / "config.yaml"
    import platformdirs

    return Path(platformdirs.user_config_dir("cacop")) / "config.yaml"


def user_settings() -> dict[str, str]:
    """site, name and max_tlp from the user's config.yaml; {} when there is none."""
    path = user_config_path()
    try:
        text = read_settings(path)
    except (OSError, EntryError):
        return {}

    def parsed() -> dict[str, str]:
        from . import yamlsafe

        try:
            value = yamlsafe.load(text).value
        except yamlsafe.YamlProblem:
            return {}
        if not isinstance(value, dict):
            return {}
        return {key: value[key] for key in USER_KEYS if isinstance(value.get(key), str)}

    return remembered("user-settings", text, parsed) or {}


def set_user_setting(key: str, value: str) -> Path:
    """Keep `key: value` in the user's config.yaml, keeping its other settings."""
    import json

    from .entries import write_atomic

    kept = {**user_settings(), key: value}
    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "".join(f"{name}: {json.dumps(kept[name])}\n" for name in sorted(kept)))
    return path


def clone_settings(root: Path) -> dict[str, str]:
    """This clone's own settings (`git config cacop.*`); {} outside git."""
    from .gitconfig import plain_cacop_settings

    found = plain_cacop_settings(root)
    if found is not None:
        return found
    from . import gitrepo
    from .errors import GitError

    try:
        return gitrepo.cacop_settings(root)
    except GitError:
        return {}


def _local_line(root: Path, kb_line: str, clone: dict[str, str]) -> tuple[str | None, list[str]]:
    """The cacop.yaml line this clone has confirmed, kept up to date, and what to say.

    The first value seen is confirmed; a stricter one pulled later applies at once (and is
    confirmed); a looser one waits for `cacop config max-tlp --confirm`.
    """
    from .models import TLP_ORDER, tlp_rank

    confirmed = clone.get("confirmed-max-tlp")
    if confirmed not in TLP_ORDER:
        confirmed = None
    if confirmed is not None and tlp_rank(kb_line) > tlp_rank(confirmed):
        return confirmed, [
            f"cacop.yaml now allows TLP:{kb_line.upper()}; run "
            "`cacop config max-tlp --confirm` to accept it"
        ]
    if confirmed == kb_line:  # every command, nearly always: no git module, no git run
        return kb_line, []
    from . import gitrepo
    from .errors import GitError

    if confirmed is not None or clone or gitrepo.is_repository(root):
        with contextlib.suppress(GitError):  # not a clone: cacop.yaml alone sets the line
            gitrepo.set_cacop_setting(root, "confirmed-max-tlp", kb_line)
    return kb_line, []


def user_state_dir() -> Path:
    """This user's private cacop state (never inside a KB, so nothing pulled can forge it)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cacop"


def remembered(kind: str, text: str, derive: Callable[[], Any]) -> Any:
    """`derive()`, a plain value read from `text`, remembered per version of the text.

    Every command reads cacop.yaml, and a search reads kb/vocabulary.yaml too: parsing
    them meant importing PyYAML (15-25 ms) each time for files that rarely change. The
    value is kept as JSON in this user's state folder (never in the KB), under the hash
    of the text and of cacop's version; a None or an exception is not remembered.
    """
    import hashlib
    import json

    from . import __version__

    digest = hashlib.sha256(f"{kind}\0{__version__}\0{text}".encode()).hexdigest()
    stamp = user_state_dir() / "remembered" / digest
    try:
        return json.loads(stamp.read_bytes())["value"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = derive()
    if value is not None:
        try:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            partial = stamp.with_name(f".{digest}.{os.getpid()}")
            partial.write_text(json.dumps({"value": value}), "utf-8")
            os.replace(partial, stamp)
        except OSError:
            pass  # a read-only home only costs the parse next time
    return value


def _settings_problems(root: Path, settings: dict[str, Any]) -> list[Any]:
    """Schema problems of cacop.yaml (importing jsonschema costs 150-250 ms: load_kb
    remembers settings that passed, per version of the file and its schema)."""
    return schemas.errors("cacop-config", settings, root)


def load_kb(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> KB:
    root = find_root(explicit, cwd)
    path = root / CONFIG_NAME
    try:
        text = read_settings(path)
    except EntryError as exc:
        raise ConfigError(
            f"{path}:{exc.line}: {exc.message}", hint="cacop.yaml must be a plain file of the KB"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    schema = schemas.schema_dir_for(root) / "cacop-config.schema.json"
    try:
        schema_text = schema.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        schema_text = ""
    settings = remembered("settings", f"{text}\0{schema_text}", lambda: _checked(root, path, text))
    share = settings.get("share") or {}
    clone, user = clone_settings(root), user_settings()
    kb_line = share.get("max_tlp", "green")
    confirmed, notices = _local_line(root, kb_line, clone)
    origins: dict[str, str] = {}
    chosen: dict[str, str | None] = {}
    for key, clone_key, fallback in (
        ("site", "site", ("cacop.yaml", settings["site"])),
        ("name", "name", ("git config user.name", None)),
        ("max_tlp", "max-tlp", ("cacop.yaml", None)),
    ):
        for origin, value in (
            ("CACOP_SITE", os.environ.get("CACOP_SITE") if key == "site" else None),
            (f"git config cacop.{clone_key}", clone.get(clone_key)),
            (str(user_config_path()), user.get(key)),
            fallback,
        ):
            if value:
                chosen[key], origins[key] = value, origin
                break
        else:
            origins[key] = fallback[0]
    return KB(
        root=root,
        name=settings["name"],
        site=chosen.get("site") or settings["site"],
        remote=settings.get("remote", "origin"),
        branch=settings.get("branch", "main"),
        share_max_tlp=kb_line,
        email_allowlist=tuple(share.get("email_allowlist") or ()),
        limits={**DEFAULT_LIMITS, **(settings.get("limits") or {})},
        settings=settings,
        analyst=chosen.get("name"),
        local_max_tlp=chosen.get("max_tlp"),
        confirmed_max_tlp=confirmed if confirmed != kb_line else None,
        origins=origins,
        notices=notices,
    )


def _checked(root: Path, path: Path, text: str) -> dict[str, Any]:
    """cacop.yaml's settings, parsed and checked against its schema; ConfigError if not valid."""
    from . import yamlsafe

    try:
        document = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        raise ConfigError(f"{path}:{exc.line + 1}: {exc.message}") from exc
    settings = document.value
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}:1: cacop.yaml must be a mapping of settings")
    from . import release

    release.check_kb(settings, path, document.key_lines)  # a newer KB: say what to install
    problems = _settings_problems(root, settings)
    if problems:
        first = problems[0]
        where = ".".join(map(str, first.absolute_path)) or "cacop.yaml"
        line = document.key_lines.get(str(first.absolute_path[0]), 0) + 1 if first.path else 1
        raise ConfigError(
            f"{path}:{line}: {where}: {first.message}",
            hint="see the README's 'cacop.yaml' section for the settings it takes",
        )
    return settings


SETTING_KEYS = {"site": "site", "name": "name", "max-tlp": "max_tlp"}  # command -> field


def change_setting(kb: KB, key: str, value: str | None, user: bool, confirm: bool) -> str:
    """`cacop config KEY VALUE`: keep it in this clone (git config) or, with `user`, in the
    user's config.yaml; `max-tlp --confirm` accepts cacop.yaml's current line. Says where."""
    from . import gitrepo
    from .errors import UsageError
    from .models import TLP_ORDER

    if key not in SETTING_KEYS:
        raise UsageError(f"no setting {key!r}", hint=f"one of: {', '.join(SETTING_KEYS)}")
    if confirm:
        if key != "max-tlp":
            raise UsageError("--confirm goes with max-tlp only")
        gitrepo.set_cacop_setting(kb.root, "confirmed-max-tlp", kb.share_max_tlp)
        return f"git config cacop.confirmed-max-tlp = {kb.share_max_tlp}"
    if not value or not value.strip():
        raise UsageError(f"give a value: `cacop config {key} VALUE`")
    value = value.strip()
    if not value.isprintable():  # a line break would add a line of its own to the setting
        raise UsageError(f"{key} {value!r} must be one line of text; nothing was changed")
    if key == "max-tlp":
        value = value.lower().removeprefix("tlp:")
        if value not in TLP_ORDER:
            raise UsageError(f"max-tlp {value!r} is not one of: {', '.join(TLP_ORDER)}")
    if key == "site" and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", value):
        raise UsageError(
            f"site {value!r}: a site slug is lower case letters, digits and '-', e.g. memphis"
        )
    if user:
        return f"{set_user_setting(SETTING_KEYS[key], value)}: {SETTING_KEYS[key]} = {value}"
    gitrepo.require_repository(kb.root, "keep a setting in this clone")
    gitrepo.set_cacop_setting(kb.root, key, value)
    return f"git config cacop.{key} = {value}"


def identity(kb: KB) -> dict[str, Any]:
    """`cacop whoami`: site, name and the effective max_tlp, each with where it came from."""
    from . import gitrepo

    name = kb.analyst or gitrepo.user_name(kb.root)
    line_origin = "cacop.yaml share.max_tlp"
    if kb.max_tlp == kb.local_max_tlp and kb.local_max_tlp != kb.share_max_tlp:
        line_origin = kb.origins.get("max_tlp", line_origin)
    elif kb.max_tlp == kb.confirmed_max_tlp:
        line_origin = "git config cacop.confirmed-max-tlp (cacop.yaml's looser line not confirmed)"
    return {
        "site": {"value": kb.site, "from": kb.origins.get("site", "cacop.yaml")},
        "name": {"value": name, "from": kb.origins.get("name", "git config user.name")},
        "max_tlp": {"value": kb.max_tlp, "from": line_origin},
    }
