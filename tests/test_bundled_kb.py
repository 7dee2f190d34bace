"""The starter knowledge base in kb/ is valid, and rich enough to be useful on day one."""

from collections import Counter

from cacop_cli.catalog import load_catalog
from cacop_cli.config import load_kb
from cacop_cli.models import TOPICS

from conftest import REPO


def test_bundled_kb_validates(cli):
    result = cli("validate", "--json", kb=REPO)
    assert result.exit_code == 0, result.stdout
    assert '"ok": true' in result.stdout


def test_bundled_kb_covers_the_community():
    catalog = load_catalog(load_kb(REPO))
    assert not catalog.unreadable
    types = Counter(entry.type for entry in catalog.entries)
    assert types["strategy"] >= 12
    assert types["work-product"] >= 10
    assert types["rfi"] >= 5
    assert types["response"] >= 6
    topics = {topic for entry in catalog.entries for topic in entry.meta["topics"]}
    assert topics == set(TOPICS)
    assert len(catalog.sites) >= 8
    tlps = Counter(entry.meta["tlp"] for entry in catalog.entries)
    assert tlps["clear"] + tlps["green"] == len(catalog.entries)
    for entry in catalog.entries:
        if entry.type == "work-product":
            assert entry.meta["attachments"], f"{entry.rel} has no attachment"
