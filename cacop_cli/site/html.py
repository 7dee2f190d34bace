"""The HTML every page shares: escaping, the layout (TLP banner, navigation, search box,
last update) and Markdown. Strings out; nothing here reads or writes a file.

Links are relative and name `index.html` outright, so the site works from `file://` (where
a folder link opens a listing) as well as from any static host (where `/<id>/` serves the
same page). Nothing is inline: the Content-Security-Policy allows the site's own files only.
"""

from __future__ import annotations

import html
from functools import cache
from urllib.parse import quote

from ..models import CONTROL, TLP_MEANING, tlp_label

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)
NAVIGATION = (
    ("index.html", "Home"),
    ("topics/index.html", "Topics"),
    ("sites/index.html", "Sites"),
    ("types/index.html", "Types"),
    ("rfis/index.html", "RFI board"),
    ("map/index.html", "Map"),
    ("experts/index.html", "Who to ask"),
)


def h(value: object) -> str:
    """Entry text as HTML text: control characters gone, markup escaped (quotes too)."""
    return html.escape(CONTROL.sub("", str(value)), quote=True)


def href(path: str) -> str:
    """A relative link to a site path, each segment percent-encoded."""
    return "/".join(quote(part, safe="") for part in path.split("/"))


def link(root: str, path: str, label: object) -> str:
    return f'<a href="{h(root + href(path))}">{h(label)}</a>'


def entry_path(entry_id: str) -> str:
    return f"{entry_id}/index.html"


@cache
def _markdown():
    from markdown_it import MarkdownIt

    # CommonMark with raw HTML off: `<script>` in an entry is shown as text, never run.
    # markdown-it also refuses javascript:, vbscript: and data: links (validateLink).
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown(text: str) -> str:
    return _markdown().render(CONTROL.sub("", text.replace("\r\n", "\n")))


def banner(tlp: str) -> str:
    """FIRST's label in its colours (a class in site.css) and what it allows, in words."""
    marking = tlp if tlp in TLP_MEANING else "red"
    return (
        f'<p class="tlp tlp-{marking.replace("+", "-")}">'
        f'<strong class="tlp-label">{h(tlp_label(tlp))}</strong> '
        f"<span>{h(TLP_MEANING[marking])}</span></p>"
    )


def page(
    *,
    title: str,
    body: str,
    root: str,
    tlp: str,
    updated: str,
    kb_name: str,
    built: str,
    current: str = "",
) -> str:
    """One whole page: banner first and last (what a printed page keeps), navigation,
    the search box, the content in <main>, and when its content was last updated."""
    here = ' aria-current="page"'
    items = "".join(
        f'<li><a href="{h(root + path)}"{here if path == current else ""}>{h(label)}</a></li>'
        for path, label in NAVIGATION
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{h(title)} · {h(kb_name)}</title>
<link rel="stylesheet" href="{root}assets/site.css">
<script defer src="{root}assets/search-index.js"></script>
<script defer src="{root}assets/search.js"></script>
</head>
<body data-root="{h(root)}">
<a class="skip" href="#content">Skip to content</a>
<header class="top">
{banner(tlp)}
<p class="kb"><a href="{h(root)}index.html">{h(kb_name)}</a></p>
<nav aria-label="Site"><ul>{items}</ul></nav>
<form class="search" role="search" action="#" aria-label="Search this site">
<label for="q">Search</label>
<input id="q" name="q" type="search" autocomplete="off" placeholder="titles, tags, text…"
 aria-describedby="search-help">
<span id="search-help" class="hint">Results appear as you type; works offline.</span>
</form>
<section id="results" aria-live="polite" aria-label="Search results" hidden></section>
</header>
<main id="content" tabindex="-1">
<h1>{h(title)}</h1>
{body}
</main>
<footer>
<p class="updated">Last updated <time>{h(updated)}</time> · site built <time>{h(built)}</time></p>
{banner(tlp)}
</footer>
</body>
</html>
"""
