"""Who the authors of entries are: people, or units of a site; and how kb/sites.yaml says
to reach them (used by `experts`). Which site this analyst is, before they first write."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .catalog import Catalog

if TYPE_CHECKING:
    from .config import KB

# An author that names a unit, not a person: "Crime Analysis Unit", "Real Time Crime
# Center", "… Division", "… Bureau": listed as its site's, never among the people.
UNIT_WORDS = re.compile(
    r"\b(unit|cent(er|re)|division|bureau|section|team|office|department|dept|squad|"
    r"task force|command|precinct|district|agency|group|program|programme|police|"
    r"sheriff|rtcc|fusion)\b",
    re.IGNORECASE,
)


def is_unit(author: str, site_names: set[str] | frozenset[str] = frozenset()) -> bool:
    """Does this author name a unit, an agency or a site rather than a person?"""
    folded = " ".join(author.casefold().split())
    return bool(UNIT_WORDS.search(folded)) or folded in site_names


def site_contacts(catalog: Catalog, slug: str) -> list[dict[str, str]]:
    """A site's `contacts` in kb/sites.yaml (name, role, email, phone), as written."""
    details = catalog.sites.get(slug)
    listed = details.get("contacts") if isinstance(details, dict) else None
    contacts = []
    for contact in listed if isinstance(listed, list) else ():
        if isinstance(contact, dict) and isinstance(contact.get("name"), str):
            keys = ("name", "role", "email", "phone")
            contacts.append({k: str(contact[k]) for k in keys if contact.get(k) is not None})
    return contacts


def same_person(first: str, second: str) -> bool:
    return " ".join(first.casefold().split()) == " ".join(second.casefold().split())


# ---------------------------------------------------------------- which site am I
# cacop.yaml's `site` is the knowledge base's, shared by every clone: a clone where the
# analyst has not said which site they are (CACOP_SITE, `cacop config site`, the user's
# config.yaml) must not write as it. Outside git nothing is shared, and the folder's
# cacop.yaml is its owner's: no question there.


def sites_to_choose(kb: KB) -> dict[str, str] | None:
    """The sites of kb/sites.yaml (slug -> name) this analyst must choose from before
    writing, or None when their site is known (their own setting) or the KB is not a git
    clone."""
    if kb.origins.get("site", "cacop.yaml") != "cacop.yaml":
        return None
    from . import gitrepo

    if not gitrepo.is_repository(kb.root):
        return None
    from .catalog import read_sites

    known, _, _ = read_sites(kb)
    return {
        str(slug): str(details.get("name", slug)) if isinstance(details, dict) else str(slug)
        for slug, details in sorted(known.items())
    }


def site_answered(answer: str, sites: dict[str, str]) -> str:
    """The site someone typed: its slug or its name, case-blind ('Baton Rouge' is
    baton-rouge). UsageError naming the sites when it is none of them."""
    from .errors import UsageError

    def folded(value: str) -> str:
        return "-".join(value.strip().lower().replace("_", " ").split())

    wanted = folded(answer)
    if not sites and wanted:  # a KB whose kb/sites.yaml lists none takes any slug
        return wanted
    for slug, name in sites.items():
        if wanted in (slug, folded(name)):
            return slug
    raise UsageError(
        f"{answer.strip()!r} is not a site in kb/sites.yaml (one of: {', '.join(sites)})"
    )


def keep_site(kb: KB, slug: str) -> str:
    """Keep the chosen site as `cacop config site SLUG` does (this clone's git config) and
    use it from now on; says where it was kept."""
    from .config import change_setting

    where = change_setting(kb, "site", slug, user=False, confirm=False)
    kb.site, kb.origins["site"] = slug, "git config cacop.site"
    return where
