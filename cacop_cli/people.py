"""Who the authors of entries are: people, or units of a site; and how kb/sites.yaml says
to reach them. Used by `experts`."""

from __future__ import annotations

import re

from .catalog import Catalog

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
