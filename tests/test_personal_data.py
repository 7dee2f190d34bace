"""Personal data where analysts leak it: tables by their headers, normalised text, dates of
birth, licences, plates and e-mail in their common forms, in time linear in the text."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitserver import write
from hypothesis import given
from hypothesis import strategies as st

from cacop_cli.config import load_kb
from cacop_cli.errors import ConfigError, ExitCode
from cacop_cli.share import GateRefused, gates

TODAY = dt.date(2025, 6, 1)


def kinds(text: str, path: str = "x.md", **options) -> list[tuple[int, str]]:
    found = gates.personal_data(text, path, TODAY, **options)
    return [(finding.line, finding.kind) for finding in found]


# ---------------------------------------------------------------- prose


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Date of birth is 03/04/2005", "date-of-birth"),
        ("D.O.B.: 03/04/2005", "date-of-birth"),
        ("Jones (b. 3/4/2005) was stopped", "date-of-birth"),
        ("Jones, b. 3/4/2005, was stopped", "date-of-birth"),
        ("born March 4, 2005", "date-of-birth"),
        ("born 4 March 2005", "date-of-birth"),
        ("DOB03/04/2005", "date-of-birth"),
        ("DOB:2005-03-04", "date-of-birth"),
        ("DOB 20050304", "date-of-birth"),
        ("born 03042005", "date-of-birth"),
        ("Birth Date - 2005-03-04", "date-of-birth"),
        ("John Smith 20050304", "date-of-birth"),
        ("SMITH, JOHN A (20050304)", "date-of-birth"),
        ("20050304 John Smith", "date-of-birth"),
        ("DL# A1234567", "driver-licence"),
        ("OLN 123456789", "driver-licence"),
        ("DL Number: 123456789", "driver-licence"),
        ("operator's license S530-4562-1234", "driver-licence"),
        ("license plate ABC-1234", "plate"),
        ("tag ABC1234", "plate"),
        ("plate: 7ABC123", "plate"),
        ("TN tag 1A2-B3C", "plate"),
        ("LP# 7ABC123", "plate"),
        ("write to j.doe@acme-logistics.com", "email"),
        ("name [at] gmail [dot] com", "email"),
        ("name(at)gmail.com", "email"),
        ("name at gmail dot com", "email"),
        ("name AT yahoo DOT com", "email"),
        ("name @ outlook.com", "email"),
        ("pupil@school.k12.tn.us", "email"),
        ("someone@smith.us", "email"),
        ("cell 9015550142", "phone"),
        ("+44 20 7946 0958", "phone"),
    ],
)
def test_each_common_form_is_found_on_its_line(text, kind):
    assert (3, kind) in kinds(f"first line\nsecond\n{text}\n")


@pytest.mark.parametrize(
    "text",
    [
        "Case Report 20240304 was filed.",
        "Version 20240304 of the dashboard",
        "Lead 20240304 and 20240305",
        "See the guide at google.com and data.gov.",
        "Meet at noon. Then review.",
        "analyst@memphistn.gov, chief@police.gov.uk and ops@army.mil",
        "records@state.tn.us and clerk@ci.memphis.tn.us and a@fs.fed.us",
        "crime.analysis@example.org and test@mail.test",
        "Case 2024013377 and lead 2024-013377-01",
        "tag: gun-violence; tags: alpr, plate-reader",
        "1-800-222-8477 and 888-555-0100 are public lines",
        "Shootings fell 12.5 per 100,000 between 2019-2023",
        "Grid cell 1200 had 14 incidents",
    ],
)
def test_analyst_prose_is_not_flagged(text):
    assert kinds(text) == []


def test_email_allowlist_from_the_kb_covers_a_domain_and_its_subdomains():
    text = "a@acme-corp.com\nb@mail.acme-corp.com\nc@notacme-corp.com\nd [at] acme-corp [dot] com\n"
    assert kinds(text) == [(1, "email"), (2, "email"), (3, "email"), (4, "email")]
    allowed = kinds(text, email_allowlist=["ACME-corp.com"])
    assert allowed == [(3, "email")]
    assert gates.scan(text, "x.md", TODAY, ["acme-corp.com"])[0].line == 3


def test_a_juvenile_date_of_birth_beside_a_name_says_so():
    (finding,) = gates.personal_data("Smith, Jo 20100602\n", "x.md", TODAY)
    assert finding.message == "a date of birth (age 14: a juvenile)"


# ---------------------------------------------------------------- normalising


SSN = "536-22-1234"


@pytest.mark.parametrize(
    "disguised",
    [
        "536\u201022\u20101234",  # hyphen
        "536\u201322\u20131234",  # en dash
        "536\u221222\u22121234",  # minus sign
        "536\uff0d22\uff0d1234",  # full-width hyphen-minus
        "536\ufe6322\ufe631234",  # small hyphen-minus
        "536.22.1234",  # dots between digit groups
        "\uff15\uff13\uff16-\uff12\uff12-\uff11\uff12\uff13\uff14",  # full-width digits
        "\u0665\u0663\u0666-\u0662\u0662-\u0661\u0662\u0663\u0664",  # Arabic-Indic digits
        "\u096b\u0969\u096c-\u0968\u0968-\u0967\u0968\u0969\u096a",  # Devanagari digits
        "53\u200b6-2\u200c2-12\u200d34",  # zero-width space, non-joiner, joiner
        "536\u2060-22-\ufeff1234",  # word joiner, BOM
        "53\u00ad6-22-1234",  # soft hyphen
        "&#53;&#51;&#54;-22-1234",  # decimal entities
        "&#x35;36&#8209;22&#8209;1234",  # hex entity, entity for a non-breaking hyphen
        "536&ndash;22&ndash;1234",  # named entity
    ],
)
def test_disguised_digits_and_dashes_are_seen_through(disguised):
    text = "a &#10; line\nand&nbsp;another\u00a0one\u202f\nSSN:\u00a0" + disguised + "\n"
    assert kinds(text) == [(3, "ssn")]
    assert SSN in gates.normalise(disguised) or gates.normalise(disguised) == SSN


def test_normalising_maps_the_text_line_for_line():
    text = "x&#10;y&#13;z\n\u2028\uff11&amp;\n3.5\u00ad\n"
    assert gates.normalise(text) == "x y z\n\u20281&\n3-5\n"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_normalising_never_moves_a_line(text):
    normal = gates.normalise(text)
    assert normal.count("\n") == text.count("\n")
    assert normal.split("\n") == [gates.normalise(line) for line in text.split("\n")]


# ---------------------------------------------------------------- tables


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("DOB", "date-of-birth"),
        ("D.O.B.", "date-of-birth"),
        ("Birth Date", "date-of-birth"),
        ("Date of Birth", "date-of-birth"),
        ("Birthdate", "date-of-birth"),
        ("suspect_dob", "date-of-birth"),
        ("DateOfBirth", "date-of-birth"),
        ("SSN", "ssn"),
        ("Soc Sec #", "ssn"),
        ("Social Security No.", "ssn"),
        ("OLN", "driver-licence"),
        ("DL#", "driver-licence"),
        ("DL Number", "driver-licence"),
        ("Driver's License", "driver-licence"),
        ("Driver\u2019s Licence No", "driver-licence"),
        ("Tag", "plate"),
        ("Plate", "plate"),
        ("LP#", "plate"),
        ("License Plate", "plate"),
        ("First Name", "name"),
        ("Last Name", "name"),
        ("Suspect Name", "name"),
        ("Victim", "name"),
        ("Name", "name"),
        ("LName", "name"),
        ("Address", "address"),
        ("Street Address", "address"),
        ("Home Address", "address"),
        ("Block Address", "address"),
        ("Phone", "phone"),
        ("Cell", "phone"),
        ("Tel", "phone"),
        ("Home Phone #", "phone"),
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("  e-MAIL  ", "email"),
    ],
)
def test_headers_in_their_usual_spellings(header, kind):
    assert gates.column_kind(header) == kind


@pytest.mark.parametrize(
    "header",
    [
        "Site Name",
        "Agency Name",
        "Beat",
        "District",
        "Offense",
        "Count",
        "Tags",
        "Victim activity",
        "Shooting victims",
        "Offenders",
        "Owner",
        "Grid Cell",
        "IP Address",
        "Location (hundred block)",
        "Date",
        "Analyst role",
        "License",
    ],
)
def test_analyst_headers_are_not_personal(header):
    assert gates.column_kind(header) is None


def test_every_filled_cell_of_a_personal_column_is_a_finding_whatever_its_format():
    headers = ["Site Name", "DOB", "SSN", "Victim", "Beat"]
    rows = [
        ["North", "03/04/2009", "078051120", "Jo Doe", "B3"],
        ["South", "sometime in March", "  ", "N/A", "B4"],
        ["East", "", "redacted", "unknown", "B5"],
    ]
    found = gates.table_personal_data(headers, rows, "people.xlsx", today=TODAY)
    assert [(finding.line, finding.kind) for finding in found] == [
        (2, "date-of-birth"),
        (2, "ssn"),
        (2, "name"),
        (3, "date-of-birth"),
    ]
    assert found[0].message == "a date of birth (age 16: a juvenile) in column 'DOB' (row 1)"
    assert found[1].message == "a social security number in column 'SSN' (row 1)"
    assert found[3].message == "a date of birth in column 'DOB' (row 2)"


def test_a_table_names_its_cells_as_the_caller_says():
    def locate(row: int, column: int) -> tuple[int, str]:
        return row + 5, f"sheet 'Arrests' cell {'ABC'[column]}{row + 5}"

    found = gates.table_personal_data(["Case", "Plate"], [["24-1", "7ABC123"]], "a.xlsx", locate)
    assert str(found[0]) == (
        "a.xlsx:5: plate: a vehicle licence plate in column 'Plate' (sheet 'Arrests' cell B5)"
    )


def test_a_hundred_block_is_not_personal_but_a_house_number_is():
    cells = [
        ("1200 block of N 5th St", False),
        ("12XX N 5th St", False),
        ("1200 BLK Poplar Ave", False),
        ("1200-block Poplar", False),
        ("5th St & Main", False),
        ("Poplar Ave", False),
        ("1234 N 5th St", True),
        ("12B Oak St", True),
        ("PO Box 77", True),
    ]
    found = gates.table_personal_data(["Block Address"], [[cell] for cell, _ in cells], "x.csv")
    assert [finding.line for finding in found] == [
        number + 2 for number, (_, personal) in enumerate(cells) if personal
    ]


def test_a_bare_tag_column_counts_only_plate_shaped_cells():
    rows = [["gun-violence"], ["alpr"], ["ABC1234"], ["1A2-B3C"], ["VANITY"]]
    found = gates.table_personal_data(["Tag"], rows, "x.csv")
    assert [finding.line for finding in found] == [4, 5, 6]
    everything = gates.table_personal_data(["Plate"], rows, "x.csv")
    assert len(everything) == len(rows)


def test_an_email_column_spares_allowed_domains():
    rows = [["a@memphistn.gov"], ["b@acme.com"], ["c@partner.org"]]
    found = gates.table_personal_data(["E-mail"], rows, "x.csv", email_allowlist=["partner.org"])
    assert [finding.line for finding in found] == [3]


def test_markdown_tables_in_an_entry_body_are_read_with_their_lines():
    text = (
        "---\nid: x\n---\n\n# Review\n\n"
        "| Site Name | Suspect DOB | Block Address | Tag |\n"
        "|:---|---:|:---:|---|\n"
        "| North | 2011-02-03 | 1200 block of N 5th | gun-violence |\n"
        "| South \\| East | - | 1234 N 5th St | 7ABC123 |\n"
        "\nAfter the table: Beat 4.\n"
    )
    found = gates.personal_data(text, "kb/x.md", TODAY)
    assert [(finding.line, finding.kind) for finding in found] == [
        (9, "date-of-birth"),
        (10, "address"),
        (10, "plate"),
    ]
    assert (
        found[0].message == "a date of birth (age 14: a juvenile) in column 'Suspect DOB' (row 1)"
    )


def test_a_csv_or_tsv_file_is_read_as_a_table_as_well_as_text():
    csv_text = (
        'incident,first_name,"Soc Sec #",district\n'
        "24-1,Jo,078051120,3\n"
        '24-2,"Multi\nline",,4\n'
        "24-3,,536-22-1234,5\n"
    )
    found = gates.scan(csv_text, "notes/export.csv", TODAY)
    assert [(finding.line, finding.kind) for finding in found] == [
        (2, "name"),
        (2, "ssn"),
        (3, "name"),
        (5, "ssn"),
    ]
    assert "in column 'Soc Sec #' (row 3)" in found[-1].message  # not also found as prose
    assert gates.scan(csv_text, "notes/export.txt", TODAY)[0].line == 5  # prose only
    tsv = "DOB\tDistrict\n03/04/2009\t3\n"
    assert kinds(tsv, "x.TSV") == [(2, "date-of-birth")]
    semicolons = "Name;District\nJo Doe;3\n"
    assert kinds(semicolons, "x.csv") == [(2, "name")]


def test_the_bundled_analyst_tables_stay_shareable():
    table = (
        "| Site Name | Agency Name | Beat | District | Offense | Count | Block Address |\n"
        "|---|---|---|---|---|---|---|\n"
        "| North | MPD | 3B | 2 | Robbery | 14 | 1200 block of N 5th St |\n"
    )
    assert kinds(table) == []
    csv_text = (
        "incident_id,x,y,date,offense,district\nCASE-0001,1237779,154612,2024-01-02,theft,3\n"
    )
    assert kinds(csv_text, "sample.csv") == []


# ---------------------------------------------------------------- listing and time


def test_findings_are_capped_at_twenty_per_file_with_a_count_of_the_rest():
    findings = [gates.Finding("personal-data", "phone", "a.md", line, "x") for line in range(1254)]
    findings += [gates.Finding("secret", "secret", "a.md", 2000, "y")]
    findings += [gates.Finding("personal-data", "ssn", "b.md", 1, "z")]
    shown = gates.cap_per_file(findings)
    assert shown[:20] == findings[:20]
    assert [str(finding) for finding in shown[20:]] == [
        "a.md:20: more: and 1,234 more personal-data findings in this file",
        "a.md:2000: more: and 1 more secret finding in this file",
        "b.md:1: ssn: z",
    ]
    refused = GateRefused("nothing was shared", findings)
    assert len(refused.findings) == len(findings)
    assert "1256 problem(s)" in str(refused) and str(refused).count("\n  a.md:") == 22


def dense(line: str, size: int = 1_048_576) -> str:
    return line * (size // len(line))


DENSE_PROSE = (
    "SSN 536-22-1234 DOB: 03/14/2010 cell (901) 555-0142 plate ABC1234 j.doe@gmail.com "
    "DL# D1234567 +44 20 7946 0958 Smith, Jo 20100602 x [at] y [dot] com\n"
)
DENSE_ROW = "| Jo Doe | 03/04/2009 | 536221234 | 1234 N 5th St | 901-555-0142 | a@b.com |\n"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("prose.md", dense(DENSE_PROSE)),
        (
            "table.md",
            "| Name | DOB | SSN | Address | Phone | E-mail |\n|---|---|---|---|---|---|\n"
            + dense(DENSE_ROW),
        ),
        (
            "table.csv",
            "name,dob,ssn,address,phone\n" + dense("Jo Doe,03/04/2009,536221234,12 N 5th St,x\n"),
        ),
    ],
)
def test_a_megabyte_of_dense_findings_is_refused_in_linear_time(path, text):
    started = time.process_time()  # CPU time: the bound holds however busy the machine is
    found = gates.personal_data(text, path, TODAY)
    shown = gates.cap_per_file(found)
    took = time.process_time() - started
    assert len(found) > 50_000 and len(shown) == 21
    assert shown[-1].message.startswith(f"and {len(found) - 20:,} more personal-data findings")
    assert took < 5, f"{took:.1f} s for {len(found)} findings in {path}"


ADVERSARIAL = [
    "DOB " * 250_000,
    "DOB" + " " * 1_000_000 + "x",
    "SSN" + " :" * 500_000,
    "date of birth " + "is " * 300_000,
    "DL" + " -" * 500_000,
    "plate " + ": " * 500_000,
    "1-" * 500_000,
    "1 " * 500_000,
    "1." * 500_000,
    "0" * 1_000_000,
    "a" * 1_000_000,
    "%" * 1_000_000,
    "a.a" * 333_333,
    "a@" * 500_000,
    "a at " * 200_000,
    "a [at] b" * 130_000,
    "x [dot] " * 130_000,
    "a@b" + " dot b" * 150_000,
    "+1" * 500_000,
    "+4 " * 330_000,
    "(" * 1_000_000,
    "(901) " * 160_000,
    "John Smith " * 100_000,
    "SMITH, " * 140_000,
    "12345678 " * 110_000,
    "&#" * 500_000,
    "&#1234567" * 110_000,
    "tag " * 250_000,
    "| a |" * 200_000,
    "|---" * 250_000,
]


PATTERN_PROBE = """
import sys, time
sys.path.insert(0, sys.argv[2])
from test_personal_data import ADVERSARIAL
from cacop_cli.share import gates
pattern = gates.PATTERNS[sys.argv[1]]
for number, text in enumerate(ADVERSARIAL):
    started = time.perf_counter()
    for _ in pattern.finditer(text):
        pass
    print(number, time.perf_counter() - started, flush=True)
"""


@pytest.mark.parametrize("name", sorted(gates.PATTERNS))
def test_no_pattern_backtracks_on_a_megabyte_of_hostile_text(name):
    """In a child process, so that a pattern that backtracks fails the test, not hangs it."""
    argv = [sys.executable, "-c", PATTERN_PROBE, name, str(Path(__file__).parent)]
    try:
        probe = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    except subprocess.TimeoutExpired as timeout:
        out = timeout.stdout or b""
        done = (out.decode() if isinstance(out, bytes) else out).count("\n")
        pytest.fail(f"{name}: no answer in 60 s on {ADVERSARIAL[done][:20]!r}…")
    for line in probe.stdout.splitlines():
        number, took = line.split()
        text = ADVERSARIAL[int(number)]
        assert float(took) < 2, f"{name}: {float(took):.1f} s on {text[:20]!r}…"
    assert len(probe.stdout.splitlines()) == len(ADVERSARIAL)


def test_the_whole_scan_is_bounded_on_hostile_text():
    hostile = ADVERSARIAL[::3] + ["| a |" * 200_000, "|".join(map(str, range(180_000)))]
    for text in hostile:
        started = time.perf_counter()
        gates.personal_data(text, "x.csv", TODAY)
        took = time.perf_counter() - started
        assert took < 5, f"{took:.1f} s on {text[:20]!r}…"


# ---------------------------------------------------------------- cacop.yaml and sharing


def test_the_kb_names_its_allowed_mail_domains(kb_path):
    config = kb_path / "cacop.yaml"
    base = config.read_text()
    assert load_kb(kb_path).email_allowlist == ()
    config.write_text(
        base.replace("max_tlp: green", "max_tlp: green\n  email_allowlist: [acme.org]")
    )
    assert load_kb(kb_path).email_allowlist == ("acme.org",)
    config.write_text(base.replace("max_tlp: green", "max_tlp: green\n  email_allowlist: ['@x']"))
    with pytest.raises(ConfigError, match="email_allowlist"):
        load_kb(kb_path)


def submit(cli, site, name: str, text: str):
    source = write(site.parent / "outside" / name, text)
    return cli(
        "submit",
        str(source),
        "--title",
        "Partner contacts",
        "--topic",
        "gun-violence",
        "--no-push",
        kb=site,
    )


def test_submit_refuses_a_csv_by_its_header_and_honours_the_allowlist(cli, net, site_a):
    result = submit(cli, site_a, "people.csv", "Beat,DOB\n3,03/04/2009\n")
    assert result.exit_code == ExitCode.PROBLEMS
    assert "people.csv:2: date-of-birth: a date of birth (age" in result.stderr
    assert "in column 'DOB' (row 1)" in result.stderr

    contacts = "# Contacts\n\nAsk lee@acme-partner.org for the extract.\n"
    result = submit(cli, site_a, "contacts.md", contacts)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "contacts.md:3: email: a private e-mail address (@acme-partner.org)" in result.stderr
    config = site_a / "cacop.yaml"
    config.write_text(
        config.read_text().replace(
            "max_tlp: green", "max_tlp: green\n  email_allowlist: [acme-partner.org]"
        )
    )
    # (a site's clone keeps its own cacop.yaml: it is marked assume-unchanged)
    result = submit(cli, site_a, "contacts2.md", contacts)
    assert result.exit_code == 0, result.stderr


def test_a_refusal_lists_twenty_findings_per_file_and_counts_the_rest(cli, net, site_a):
    text = "# Calls\n\n" + "".join(f"cell 901-555-{number:04d}\n" for number in range(100, 135))
    result = submit(cli, site_a, "calls.md", text)
    assert result.exit_code == ExitCode.PROBLEMS
    assert result.stderr.count(": phone: a phone number") == 20
    assert "calls.md:23: more: and 15 more personal-data findings in this file" in result.stderr
