"""Views of `site build` and `site serve`: the summary for the analyst, on stderr, and
each entry the gate left out with its reasons."""

from __future__ import annotations

from ..models import tlp_label
from ..site import SiteBuild
from . import emit, note, print_json, talk, warn


def built(result: SiteBuild, as_json: bool) -> None:
    if as_json:
        print_json(result.as_dict())
    for refusal in result.refused:
        talk(f"left out: {refusal.path}", "bold red")
        for reason in refusal.reasons:
            talk(f"  {reason}", "red")
    if result.above:
        note(f"{result.above} entries above {tlp_label(result.line.line)} left out")
    if not as_json:
        emit(str(result.out))
    note(
        f"site built in {result.seconds:.1f} s: {result.entries} entries up to "
        f"{tlp_label(result.line.line)}, {result.pages} pages, {result.attachments} attachments"
    )
    if result.refused and result.skip_refused:
        warn(f"{len(result.refused)} entries refused by the gate were left out (--skip-refused)")
    elif result.refused:
        talk(
            f"error: {len(result.refused)} entries were refused by the gate (personal data, "
            "secrets or an attachment that cannot be read) and left out",
            "bold red",
        )
        talk(
            "hint: fix or remove what is named above (an override in the entry accepts public "
            "personal data, as for `cacop submit`), or pass --skip-refused to publish without "
            "them",
            "yellow",
        )


def serving(url: str, folder: str) -> None:
    talk(f"serving {folder} at {url} (127.0.0.1 only); Ctrl-C stops", "bold")
