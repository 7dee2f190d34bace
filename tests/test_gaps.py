"""`cacop gaps`: the topic × site matrix and the action lists, on a fixture KB with known
answers and a fixed date; the HTML page drawn by headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest
from fixturefiles import FILES

from cacop_cli.community import years_before
from cacop_cli.errors import ExitCode
from cacop_cli.render.community import PALETTE, heat_level

TODAY = "2026-06-15"
SITES = ["alpha", "beta", "gamma", "delta", "epsilon"]
MATRIX = {  # every entry (any type) counted once under each of its topics, by its site
    "gun-violence": [3, 0, 2, 0, 0],
    "federal-partnerships": [0, 1, 0, 0, 0],
    "crime-analysis": [1, 3, 0, 0, 0],
    "technology": [1, 0, 1, 0, 1],
    "criminal-justice-collaboration": [2, 0, 0, 0, 0],
    "investigations": [2, 1, 2, 0, 0],
    "community-engagement": [0, 0, 1, 0, 0],
}


@pytest.fixture
def community(tmp_path) -> Path:
    target = tmp_path / "community"
    shutil.copytree(FILES / "community", target)
    return target


def terminal(**environ: str) -> dict[str, str]:
    """The environment of a command whose output goes to a terminal (as Rich decides it)."""
    return {"TTY_COMPATIBLE": "1", "TERM": "xterm", **environ}  # Rich takes 80 columns if dumb


def unstyled(output: str) -> str:
    """Terminal output without its SGR sequences (bold, colours), to read its layout."""
    return re.sub(r"\x1b\[[0-9;]*m", "", output)


def gaps_json(cli, kb: Path, *flags: str, today: str = TODAY) -> dict:
    result = cli("gaps", "--json", *flags, "--today", today, kb=kb)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_matrix_counts_every_topic_and_registered_site(cli, community):
    document = gaps_json(cli, community)
    assert document["sites"] == SITES
    assert document["topics"] == list(MATRIX)
    assert document["matrix"] == {
        topic: dict(zip(SITES, row, strict=True)) for topic, row in MATRIX.items()
    }
    assert "by_type" not in document


def test_matrix_by_type(cli, community):
    by_type = gaps_json(cli, community, "--by-type")["by_type"]
    assert set(by_type) == {"strategy", "work-product", "rfi", "response"}
    strategies = {
        topic: [n for n in row.values()]
        for topic, row in by_type["strategy"].items()
        if any(row.values())
    }
    assert strategies == {
        "gun-violence": [1, 0, 0, 0, 0],
        "crime-analysis": [0, 1, 0, 0, 0],
        "technology": [0, 0, 0, 0, 1],
        "investigations": [1, 0, 0, 0, 0],
        "community-engagement": [0, 0, 1, 0, 0],  # retired, but it exists
    }
    for topic, row in MATRIX.items():  # the types add up to the whole
        for position, site in enumerate(SITES):
            assert sum(by_type[kind][topic][site] for kind in by_type) == row[position]


def test_action_lists_with_a_fixed_date(cli, community):
    document = gaps_json(cli, community)
    # community-engagement has only a retired strategy
    assert document["topics_without_strategy"] == [
        "federal-partnerships",
        "criminal-justice-collaboration",
        "community-engagement",
    ]
    assert document["quiet_sites"] == [
        {"site": "delta", "last_shared": None},
        {"site": "epsilon", "last_shared": "2025-01-10"},
    ]
    # past needed_by with no response; the overdue RFI with an answer is not listed
    assert [(r["id"], r["days_overdue"]) for r in document["overdue_unanswered"]] == [
        ("beta-2026-federal-task-force-contacts", 14)
    ]
    # not updated since 2024-06-15; the retired strategy is not listed
    assert [(r["id"], r["last_updated"]) for r in document["stale"]] == [
        ("alpha-2016-carjacking-diversion-form", "2016-03-01"),
        ("beta-2022-beat-map", "2023-01-01"),
        ("beta-2023-hot-spots-patrol", "2023-05-01"),
    ]


def test_action_lists_move_with_the_date(cli, community):
    earlier = gaps_json(cli, community, today="2026-01-09")
    assert [s["site"] for s in earlier["quiet_sites"]] == ["delta"]  # epsilon: 364 days
    assert earlier["overdue_unanswered"] == []
    later = gaps_json(cli, community, today="2027-01-11")
    assert [s["site"] for s in later["quiet_sites"]] == ["delta", "epsilon"]
    assert "epsilon-2024-lpr-alerts" in [r["id"] for r in later["stale"]]  # updated 2025-01-10
    assert "epsilon-2024-lpr-alerts" not in [
        r["id"] for r in gaps_json(cli, community, today="2027-01-10")["stale"]
    ]
    assert [(r["id"], r["days_overdue"]) for r in later["overdue_unanswered"]] == [
        ("beta-2026-federal-task-force-contacts", 224),
        ("gamma-2026-drone-program-policy", 194),
    ]


def test_years_before_handles_leap_days():
    assert years_before(dt.date(2028, 2, 29), 1) == dt.date(2027, 2, 28)
    assert years_before(dt.date(2026, 6, 15), 2) == dt.date(2024, 6, 15)


@pytest.mark.parametrize(
    ("count", "most", "level"),
    [(0, 3, 0), (1, 3, 2), (2, 3, 4), (3, 3, 5), (1, 10, 1), (0, 0, 0), (7, 7, 5)],
)
def test_heat_levels(count, most, level):
    assert heat_level(count, most) == level


def test_terminal_heatmap_and_lists(cli, community):
    result = cli("gaps", "--today", TODAY, kb=community, env=terminal(COLUMNS="120"))
    assert result.exit_code == 0, result.stderr
    lines = unstyled(result.stdout).splitlines()
    header = next(line for line in lines if line.strip().startswith("topic"))
    assert header.split() == ["topic", *SITES, "total"]
    for topic, row in MATRIX.items():
        line = next(line for line in lines if line.strip().startswith(topic + " "))
        assert line.split()[1:] == [str(n) for n in row] + [str(sum(row))]
    text = unstyled(result.stdout)
    assert "Topics with no strategy (3)" in text
    assert "Delta (delta): never shared anything" in text
    assert "Epsilon (epsilon): last shared 2025-01-10" in text
    flat = " ".join(text.split())  # the lists wrap between words to fit the terminal
    assert "14 d overdue [beta-2026-federal-task-force-contacts]" in flat
    assert "Entries not updated in two years (3)" in text


def test_terminal_heatmap_is_split_to_fit_a_narrow_terminal(cli, community):
    result = cli("gaps", "--today", TODAY, kb=community, env=terminal(COLUMNS="70"))
    assert result.exit_code == 0
    assert "(sites 1 of 2)" in unstyled(result.stdout)
    heatmaps = unstyled(result.stdout).split("colour:")[0]
    assert all(len(line) <= 70 for line in heatmaps.splitlines())
    assert "…" not in heatmaps
    assert "epsilon" in heatmaps and "total" in heatmaps


def test_in_a_pipe_the_heatmap_is_tab_separated_and_the_lists_are_plain(cli, community):
    result = cli("gaps", "--today", TODAY, kb=community)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"# Entries by topic and site, {TODAY}"
    assert lines[1].split("\t") == ["topic", *SITES, "total"]
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in lines[2 : 2 + len(MATRIX)]}
    assert rows == {topic: [str(n) for n in row] + [str(sum(row))] for topic, row in MATRIX.items()}
    assert "# Topics with no strategy (3)" in lines
    assert "- Delta (delta): never shared anything" in lines
    assert not any(mark in result.stdout for mark in "│─━┃\x1b")  # no boxes, no colour


def test_heatmap_cells_have_background_colours_on_a_terminal(cli, community):
    result = cli(
        "gaps", "--today", TODAY, kb=community,
        env={"COLUMNS": "120", "NO_COLOR": None, "FORCE_COLOR": "1", "TERM": "xterm-256color"},
    )  # fmt: skip
    assert result.exit_code == 0
    assert "\x1b[" in result.stdout
    assert "48;" in result.stdout  # a background colour


def test_html_page_is_self_contained_and_escaped(cli, community, tmp_path):
    stale = community / "kb/work-products/beta-2022-beat-map.md"
    stale.write_text(
        stale.read_text().replace(
            "title: Beat map of burglaries",
            'title: "<script>alert(1)</script> [bold]x[/bold] \\e[2J map"',
        )
    )
    page = tmp_path / "out" / "gaps.html"
    result = cli("gaps", "--html", str(page), "--today", TODAY, kb=community)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(page)
    html = page.read_text("utf-8")
    assert html.startswith("<!doctype html>")
    assert "<script" not in html.lower()
    assert "default-src 'none'" in html  # the page may fetch nothing, even if it tried
    assert not re.search(r"https?:|url\(|<link|<img|\ssrc=", html)  # and it does not try
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\x1b" not in html
    for colour in PALETTE:
        assert colour in html
    assert html.count('class="cell h5"') == 2  # the two 3s
    assert html.count('class="cell h0"') == sum(row.count(0) for row in MATRIX.values())


def test_html_with_json_prints_json_and_writes_the_page(cli, community, tmp_path):
    page = tmp_path / "gaps.html"
    result = cli("gaps", "--json", "--html", str(page), "--today", TODAY, kb=community)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["sites"] == SITES
    assert page.is_file()


def test_html_into_a_folder_is_a_usage_error(cli, community, tmp_path):
    result = cli("gaps", "--html", str(tmp_path), "--today", TODAY, kb=community)
    assert result.exit_code == ExitCode.USAGE
    assert "is a folder" in result.stderr


def test_unreadable_entries_are_reported_and_the_map_still_drawn(cli, community):
    (community / "kb/strategies/broken.md").write_text("no frontmatter here\n")
    result = cli("gaps", "--json", "--today", TODAY, kb=community)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["matrix"]["gun-violence"]["alpha"] == 3
    assert "kb/strategies/broken.md:1" in result.stderr


# ---------------------------------------------------------------- the page in a real browser


def read_png(data: bytes, max_rows: int | None = None) -> tuple[int, int, list[bytes], int]:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes): stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, compressed = 8, bytearray()
    width = height = channels = 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour_type in (2, 6)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(bytes(compressed))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(min(height, max_rows or height)):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for x in range(channels, stride):
                line[x] = (line[x] + line[x - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for x in range(stride):
                left = line[x - channels] if x >= channels else 0
                line[x] = (line[x] + ((left + previous[x]) >> 1)) & 0xFF
        elif kind == 4:
            for x in range(stride):
                a = line[x - channels] if x >= channels else 0
                b, c = previous[x], previous[x - channels] if x >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, channels


def _chromium() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    return chromium


def _browse(tmp_path: Path, page: Path, width: int, *action: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
            "--virtual-time-budget=2000", *action, f"--window-size={width},900", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip


# Measures the page as laid out: each site header's words (a word on two lines has two
# boxes), whether a header overflows its cell, and the area of every cell by level.
MEASURE = """<script>
addEventListener("load", () => {
  const headers = [...document.querySelectorAll("th.site")].map((th) => {
    const node = th.firstChild, words = [];
    let at = 0;
    for (const word of node.textContent.split(" ")) {
      const range = document.createRange();
      range.setStart(node, at); range.setEnd(node, at + word.length);
      words.push({word, boxes: range.getClientRects().length});
      at += word.length + 1;
    }
    return {text: th.textContent, words, overflow: th.scrollWidth > th.clientWidth};
  });
  const cells = [...document.querySelectorAll("td.cell")].map((td) => {
    const box = td.getBoundingClientRect();
    return {level: td.className.split(" ")[1], area: box.width * box.height};
  });
  const out = document.createElement("pre");
  out.id = "layout"; out.textContent = JSON.stringify({headers, cells});
  document.body.appendChild(out);
});
</script>"""


def _layout(tmp_path: Path, page: Path, width: int) -> dict:
    """The page's layout at `width` pixels, measured in Chromium by a copy with a script."""
    measured = tmp_path / f"measured-{width}.html"
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text())
    measured.write_text(html.replace("</body>", MEASURE + "</body>"), "utf-8")
    dom = _browse(tmp_path, measured, width, "--dump-dom").stdout
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom, re.S)
    assert found, "chromium did not lay the page out"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(ink: str, fill: str) -> float:
    lighter, darker = sorted((_luminance(ink), _luminance(fill)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_cell_is_readable_and_the_gaps_are_the_strongest_colour():
    from cacop_cli.render.community import INK

    assert contrast("#ffffff", "#000000") == pytest.approx(21)
    for level, fill in enumerate(PALETTE):
        assert contrast(INK[level], fill) >= 4.5, (level, fill)
    # the empty cells stand out from the page more than any filled cell does
    against_page = [contrast(fill, "#ffffff") for fill in PALETTE]
    assert against_page[0] == max(against_page) and against_page[0] >= 4.5


def test_html_page_names_sites_links_entries_and_drops_empty_sections(cli, community, tmp_path):
    page = tmp_path / "out" / "gaps.html"
    assert cli("gaps", "--html", str(page), "--today", TODAY, kb=community).exit_code == 0
    html = page.read_text("utf-8")
    heads = re.findall(r'<th class="site"[^>]*>([^<]*)</th>', html)
    assert heads == ["Alpha City", "Beta Town", "Gamma County", "Delta", "Epsilon"]
    assert "needed_by" not in html  # no field names in prose
    links = re.findall(r'<a href="([^"]+)">', html)
    assert links, "the page lists entries, each linked"
    for link in links:  # each relative to the page, to the entry's file in the KB
        assert not link.startswith(("/", "file:", "http")), link
        assert (page.parent / link).resolve().is_file(), link
    document = gaps_json(cli, community)
    listed = len(document["overdue_unanswered"]) + len(document["stale"])
    assert len(links) == listed
    # before any RFI was due: that section is gone, not "none"
    fresh = cli("gaps", "--html", str(page), "--today", "2020-01-01", kb=community)
    assert fresh.exit_code == 0, fresh.stderr
    html = page.read_text("utf-8")
    assert "<li>none</li>" not in html
    assert "past their needed-by date" not in html
    assert "not updated in two years (1)" in html  # the 2016 entry is old even then


@pytest.mark.parametrize("width", [1400, 800])
def test_html_page_in_headless_chromium(cli, community, tmp_path, width):
    page = tmp_path / "gaps.html"
    assert cli("gaps", "--html", str(page), "--today", TODAY, kb=community).exit_code == 0
    layout = _layout(tmp_path, page, width)
    assert [header["text"] for header in layout["headers"]] == [
        "Alpha City", "Beta Town", "Gamma County", "Delta", "Epsilon"
    ]  # fmt: skip
    for header in layout["headers"]:  # a header may wrap between words, never inside one
        assert not header["overflow"], header
        assert all(word["boxes"] == 1 for word in header["words"]), header
    cells = Counter(heat_level(n, 3) for row in MATRIX.values() for n in row)
    assert cells == {0: 22, 2: 7, 4: 4, 5: 2}
    assert Counter(int(cell["level"][1:]) for cell in layout["cells"]) == cells
    area = Counter()
    for cell in layout["cells"]:
        area[int(cell["level"][1:])] += cell["area"]

    screenshot = tmp_path / f"gaps-{width}.png"
    _browse(tmp_path, page, width, f"--screenshot={screenshot}")
    assert screenshot.is_file(), "chromium wrote no screenshot"
    shots = Path(__import__("os").environ.get("CACOP_SCREENSHOTS", "")) or None
    if shots and shots.name:  # keep them to look at
        shots.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, shots / screenshot.name)
    png_width, height, rows, channels = read_png(screenshot.read_bytes())
    assert (png_width, height) == (width, 900)
    pixels = Counter(row[x : x + 3] for row in rows for x in range(0, len(row), channels))

    def seen(colour: str) -> int:
        return pixels[bytes.fromhex(colour.lstrip("#"))]

    for level in cells:  # each level's cells drawn in its colour
        assert seen(PALETTE[level]) >= area[level] * 0.6, (level, seen(PALETTE[level]))
    assert seen(PALETTE[0]) > max(seen(PALETTE[level]) for level in (2, 4, 5))
    for level in (1, 3):  # no cell of these levels: only the legend's small swatch
        assert seen(PALETTE[level]) < 1_000


def test_each_entry_is_dated_as_last_touched_dates_it():
    """gaps reads each distinct date text once; the dates are rfi.last_touched's."""
    from cacop_cli import community
    from cacop_cli.models import Entry
    from cacop_cli.rfi import last_touched

    values = ["2024-03-05", "2025-01-02", " 2024-03-05", "2024-02-30", 20240305, None, [1], True]
    entries = [
        Entry(path=Path(f"kb/strategies/{n}-{m}.md"), rel=f"{n}-{m}", meta=meta, body="")
        for n, created in enumerate(values)
        for m, updated in enumerate(values)
        for meta in [{"created": created, "updated": updated}]
    ]
    read: dict = {}
    touched = {
        entry.rel: community._touched(entry.meta.get("created"), entry.meta.get("updated"), read)
        for entry in entries
    }
    assert touched == {entry.rel: last_touched(entry) for entry in entries}
    assert touched["0-1"] == dt.date(2025, 1, 2) and touched["5-5"] is None
