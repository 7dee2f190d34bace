"""Attachments read into located text: every format from a real file made by its own library,
and the hostile ones (bombs, entity expansion, lies about the kind, links) refused quickly."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from cacop_cli import textextract

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
from make_attachments import pdf_bytes  # noqa: E402

from cacop_cli.textextract import Extracted, extract, extract_bytes

# ---------------------------------------------------------------- fixtures made here


def text_pdf(pages: list[str]) -> bytes:
    """A small real PDF, one line of Helvetica text a page, with a correct xref table (made
    by the script that makes the bundled KB's attachments)."""
    return pdf_bytes([[text] for text in pages])


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.author = "Det. Jane Roe"
    document.core_properties.last_modified_by = "Sgt. Pat Doe"
    paragraph = document.add_paragraph("Shots fired on Elm Street; see the table below.")
    document.add_comment(paragraph.runs, text="Check the plate ABC1234", author="Reviewer")
    table = document.add_table(rows=3, cols=3)
    values = [("Name", "DOB", "Role"), ("John Smith", "03/04/2009", "victim"), ("Ann Lee", "", "")]
    for row, texts in zip(table.rows, values, strict=True):
        for cell, value in zip(row.cells, texts, strict=True):
            cell.text = value
    section = document.sections[0]
    section.header.paragraphs[0].text = "TLP:AMBER bulletin"
    section.footer.paragraphs[0].text = "Prepared by the RTCC"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_bytes() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    first = book.active
    first.title = "Q1"
    first["A1"] = "Shooting tracker Q1"  # a title row above the header
    first.append([])
    first.append(["Case", "D.O.B.", "Plate"])
    first.append(["24-013377", "03/04/2009", "ABC1234"])
    first.append(["24-013378", None, "XYZ987"])
    second = book.create_sheet("Notes")
    second["B2"] = "Meeting with HVIP partners"
    book.properties.creator = "Analyst Kim"
    book.properties.lastModifiedBy = "Analyst Lee"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pptx_bytes() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Gun violence briefing"
    first.placeholders[1].text = "Hot spots moved east"
    first.notes_slide.notes_text_frame.text = "Speaker: do not share the victim list"
    second = deck.slides.add_slide(deck.slide_layouts[5])
    shape = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1))
    for (row, column), value in {(0, 0): "Name", (0, 1): "Phone", (1, 0): "Al Ray",
                                 (1, 1): "555-0100"}.items():  # fmt: skip
        shape.table.cell(row, column).text = value
    deck.core_properties.author = "Lt. Ortiz"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def where(result: Extracted, needle: str) -> str:
    """The location of the first place `needle` occurs."""
    for part in result.parts:
        offset = part.text.find(needle)
        if offset >= 0:
            return part.where(offset)
    raise AssertionError(f"{needle!r} not in {[part.location for part in result.parts]}")


def dob(header: str) -> bool:
    return header.replace(".", "").strip().lower() in ("dob", "date of birth")


# ---------------------------------------------------------------- the formats


def test_a_pdf_is_read_page_by_page(tmp_path):
    result = extract(write(tmp_path, "bulletin.pdf", text_pdf(["Alpha street", "Bravo (b. 2009)"])))
    assert (result.kind, result.scannable, result.reason) == ("pdf", True, None)
    assert where(result, "Bravo") == "page 2"
    assert where(result, "Alpha") == "page 1"


def test_a_docx_gives_its_body_table_header_footer_comments_and_author(tmp_path):
    result = extract(write(tmp_path, "sop.docx", docx_bytes()))
    assert result.scannable, result.reason
    assert where(result, "Elm Street") == "body"
    assert where(result, "TLP:AMBER") == "header"
    assert where(result, "RTCC") == "footer"
    assert where(result, "ABC1234") == "comments"
    assert where(result, "Det. Jane Roe") == "properties"
    assert "last modified by: Sgt. Pat Doe" in result.text
    assert where(result, "John Smith") == "body table 1"
    cells = list(result.cells_under(dob))
    assert [(cell.location, cell.header, cell.text) for cell in cells] == [
        ("body table 1 row 2", "DOB", "03/04/2009")
    ]


def test_an_xlsx_gives_every_sheet_cell_and_header(tmp_path):
    result = extract(write(tmp_path, "tracker.xlsx", xlsx_bytes()))
    assert result.scannable, result.reason
    assert where(result, "03/04/2009") == 'sheet "Q1" cell B4'
    assert where(result, "HVIP") == 'sheet "Notes" cell B2'
    assert where(result, "Notes") == "sheet names"
    assert where(result, "Analyst Lee") == "properties"
    assert [(c.location, c.text) for c in result.cells_under(dob)] == [
        ('sheet "Q1" cell B4', "03/04/2009")
    ]
    plates = list(result.cells_under(lambda header: header == "Plate"))
    assert [c.location for c in plates] == ['sheet "Q1" cell C4', 'sheet "Q1" cell C5']


def test_a_pptx_gives_slides_tables_and_notes(tmp_path):
    result = extract(write(tmp_path, "briefing.pptx", pptx_bytes()))
    assert result.scannable, result.reason
    assert where(result, "Hot spots") == "slide 1"
    assert where(result, "victim list") == "slide 1 notes"
    assert where(result, "Lt. Ortiz") == "properties"
    phones = list(result.cells_under(lambda header: header == "Phone"))
    assert [(c.location, c.text) for c in phones] == [("slide 2 table 1 row 2", "555-0100")]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café DOB 03/04/2009\n".encode(), "Café"),
        ("\ufeffCafé DOB\n".encode(), "Café"),
        ("Café DOB\n".encode("utf-16"), "Café"),
        ("Café façade, naïve résumé, DOB\n".encode("cp1252"), "Café façade"),
        ("Smart quotes: “DOB” – 03/04/2009\n".encode("cp1252"), "“DOB” – 03/04/2009"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-bom", "latin-1", "windows-1252"],
)
def test_text_in_each_common_encoding(tmp_path, data, expected):
    result = extract(write(tmp_path, "notes.txt", data))
    assert result.scannable, result.reason
    assert expected in result.text
    assert "\ufeff" not in result.text


def test_a_csv_keeps_its_header_and_names_lines(tmp_path):
    data = b"Name;Birth Date;City\nJohn Smith;03/04/2009;Erie\n"
    data += b'"Lee, Ann";;"Multi\nline"\nBo;1/2/2010;X\n'
    result = extract(write(tmp_path, "list.csv", data))
    assert result.scannable, result.reason
    assert result.tables[0].header == ("Name", "Birth Date", "City")
    cells = list(result.cells_under(lambda header: header == "Birth Date"))
    assert [(c.location, c.text) for c in cells] == [
        ("line 2", "03/04/2009"),
        ("line 5", "1/2/2010"),
    ]
    assert where(result, "Erie") == "line 2"


def test_a_tsv_and_a_markdown_pipe_table(tmp_path):
    tsv = extract(write(tmp_path, "a.tsv", b"SSN\tName\n078051120\tAl\n"))
    assert [(c.location, c.text) for c in tsv.cells_under(lambda h: h == "SSN")] == [
        ("line 2", "078051120")
    ]
    markdown = (
        b"# Notes\n\nSome text.\n\n| Name | DOB |\n|---|:-:|\n| Al | 2009-03-04 |\n| Bo | |\n"
    )
    result = extract(write(tmp_path, "notes.md", markdown))
    assert result.kind == "markdown"
    assert [(c.location, c.text) for c in result.cells_under(dob)] == [("line 7", "2009-03-04")]


def test_json_and_geojson_give_keys_values_and_paths(tmp_path):
    data = (
        b'{"type": "FeatureCollection", "features": [{"type": "Feature", '
        b'"properties": {"name": "Al Ray", "DOB": "2009-03-04", "n": 5}}]}'
    )
    result = extract(write(tmp_path, "map.geojson", data))
    assert result.scannable, result.reason
    assert where(result, "Al Ray") == "$.features[0].properties.name"
    assert "DOB: 2009-03-04" in result.text
    assert [(c.location, c.text) for c in result.cells_under(dob)] == [
        ("$.features[0].properties.DOB", "2009-03-04")
    ]


def test_a_file_is_read_by_what_it_is_not_what_it_is_called(tmp_path):
    assert extract(write(tmp_path, "report.txt", docx_bytes())).kind == "docx"
    assert extract(write(tmp_path, "photo.jpg", text_pdf(["hidden"]))).text == "hidden"
    result = extract(write(tmp_path, "sheet.docx", xlsx_bytes()))
    assert result.kind == "xlsx" and result.scannable


# ---------------------------------------------------------------- what cannot be read


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.png", b"\x89PNG\r\n\x1a\n" + bytes(200), "an image"),
        ("a.jpg", b"\xff\xd8\xff\xe0" + bytes(200), "an image"),
        ("a.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "legacy Office"),
        ("a.bin", bytes(range(256)) * 4, "binary"),
    ],
)
def test_what_is_not_text_cannot_be_scanned(tmp_path, name, data, reason):
    result = extract(write(tmp_path, name, data))
    assert not result.scannable and reason in result.reason


def test_a_zip_archive_cannot_be_scanned(tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("inside.txt", "SSN 078-05-1120")
    result = extract(write(tmp_path, "a.zip", out.getvalue()))
    assert not result.scannable and "a ZIP archive" in result.reason


def test_an_encrypted_pdf_cannot_be_scanned(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(["secret"]))))
    writer.encrypt("pw", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    result = extract(write(tmp_path, "locked.pdf", out.getvalue()))
    assert not result.scannable and "an encrypted PDF" in result.reason


def test_a_symlink_a_fifo_and_an_oversized_file_are_not_opened(tmp_path):
    target = write(tmp_path, "real.txt", b"hello")
    (tmp_path / "link.txt").symlink_to(target)
    assert "symbolic link" in extract(tmp_path / "link.txt").reason
    os.mkfifo(tmp_path / "pipe.txt")
    started = time.monotonic()
    assert "not a regular file" in extract(tmp_path / "pipe.txt").reason
    assert time.monotonic() - started < 1
    assert "over the limit" in extract(target, max_bytes=3).reason


@pytest.mark.parametrize("kind", ["pdf", "docx", "xlsx", "pptx", "json"])
def test_a_damaged_file_of_each_kind_gets_a_reason(tmp_path, kind):
    whole = {"pdf": text_pdf(["x"] * 3), "docx": docx_bytes(), "xlsx": xlsx_bytes(),
             "pptx": pptx_bytes(), "json": b'{"a": [1, 2, '}[kind]  # fmt: skip
    for cut in (len(whole) // 2, len(whole) - 30):
        started = time.monotonic()
        result = extract_bytes(whole[:cut], f"broken.{kind}")
        assert time.monotonic() - started < 1
        assert not result.scannable, (kind, cut)
        assert result.reason


def test_a_docx_with_its_main_part_mangled_is_damaged_not_a_crash(tmp_path):
    source = zipfile.ZipFile(io.BytesIO(docx_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for member in source.infolist():
            body = source.read(member)
            if member.filename == "word/document.xml":
                body = body[: len(body) // 2]
            archive.writestr(member, body)
    result = extract_bytes(out.getvalue(), "x.docx")
    assert not result.scannable and result.reason.startswith("a damaged DOCX")


# ---------------------------------------------------------------- hostile input, bounded


def office_with(original: bytes, replace: dict[str, bytes], compress: int = zipfile.ZIP_DEFLATED):
    source = zipfile.ZipFile(io.BytesIO(original))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compress) as archive:
        for member in source.infolist():
            archive.writestr(member.filename, replace.get(member.filename, source.read(member)))
    return out.getvalue()


def test_a_billion_laughs_docx_is_refused_before_parsing():
    laughs = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
            for n in range(1, 10)
        )
        + b']>\n<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
        b'main"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>'
    )
    started = time.monotonic()
    result = extract_bytes(office_with(docx_bytes(), {"word/document.xml": laughs}), "lol.docx")
    assert time.monotonic() - started < 1
    assert not result.scannable and "DTD or entities" in result.reason


def test_an_entity_declared_in_utf16_is_refused_too():
    xml = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'
    data = office_with(xlsx_bytes(), {"xl/workbook.xml": xml.encode("utf-16")})
    assert "DTD or entities" in extract_bytes(data, "x.xlsx").reason


def test_a_decompression_bomb_xlsx_is_refused_fast_and_small():
    bomb = b"<x>" + b" " * (300 * 1_048_576) + b"</x>"
    data = office_with(xlsx_bytes(), {"xl/worksheets/sheet2.xml": bomb})
    assert len(data) < 1_048_576
    started = time.monotonic()
    result = extract_bytes(data, "bomb.xlsx")
    assert time.monotonic() - started < 1
    assert not result.scannable and "decompression bomb" in result.reason


def test_a_high_ratio_member_under_the_total_is_refused():
    bomb = b"<x>" + b"A" * (20 * 1_048_576) + b"</x>"
    data = office_with(docx_bytes(), {"word/document.xml": bomb})
    result = extract_bytes(data, "bomb.docx")
    assert not result.scannable and "times its size" in result.reason


def test_a_2000_page_pdf_is_refused_fast():
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(2000):
        writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    started = time.monotonic()
    result = extract_bytes(out.getvalue(), "long.pdf")
    assert time.monotonic() - started < 1
    assert not result.scannable and "over the limit of 500 pages" in result.reason


def test_text_over_the_limit_is_not_scannable_but_keeps_its_start(monkeypatch):
    monkeypatch.setattr(textextract, "MAX_TEXT_CHARS", 1000)
    result = extract_bytes(b"word " * 1000, "big.txt")
    assert not result.scannable and "1,000 characters" in result.reason
    assert len(result.text) == 1000


def test_deep_json_is_a_reason_not_a_recursion_error():
    result = extract_bytes(b"[" * 100_000 + b"]" * 100_000, "deep.json")
    assert result.scannable or "JSON" in result.reason


# ---------------------------------------------------------------- the cache


def test_the_cache_returns_the_same_result_and_survives_damage(tmp_path):
    cache = tmp_path / "cache"
    path = write(tmp_path, "tracker.xlsx", xlsx_bytes())
    first = extract(path, cache_dir=cache)
    (saved,) = cache.iterdir()
    assert saved.suffix == ".json"
    assert extract(path, cache_dir=cache) == first
    saved.write_text('{"kind": ')
    assert extract(path, cache_dir=cache) == first
    assert extract(path, cache_dir=cache) == first  # rewritten, and read back
    assert b'{"version"' in saved.read_bytes().split(b"\n", 1)[1][:10]  # sealed, then JSON


def test_a_20_page_pdf_is_read_once_then_from_the_cache(tmp_path):
    pages = [f"Page {n}: " + "shots fired near the market, suspect fled east. " * 30
             for n in range(1, 21)]  # fmt: skip
    path = write(tmp_path, "bulletin.pdf", text_pdf(pages))
    started = time.process_time()
    first = extract(path, cache_dir=tmp_path / "cache")
    cold = time.process_time() - started
    started = time.process_time()
    second = extract(path, cache_dir=tmp_path / "cache")
    warm = time.process_time() - started
    print(f"\n20-page PDF: first {cold * 1000:.0f} ms, cached {warm * 1000:.1f} ms")
    assert first == second and where(second, "Page 20") == "page 20"
    assert warm < cold and cold < 2


def test_a_5_mb_csv_is_read_within_the_gates_budget(tmp_path):
    rows = [f"{n},Person {n},03/04/2009,{n:09d},12 Main St" for n in range(120_000)]
    data = ("id,Name,DOB,SSN,Address\n" + "\n".join(rows) + "\n").encode()
    assert len(data) > 5_000_000
    path = write(tmp_path, "people.csv", data)
    started = time.process_time()  # CPU time: other tests share the machine's two cores
    result = extract(path, cache_dir=tmp_path / "cache")
    cold = time.process_time() - started
    started = time.process_time()
    again = extract(path, cache_dir=tmp_path / "cache")
    warm = time.process_time() - started
    print(f"\n5 MB CSV: first {cold * 1000:.0f} ms, cached {warm * 1000:.0f} ms")
    assert sum(1 for _ in again.cells_under(dob)) == 120_000
    assert result.scannable and cold < 2.5 and warm < cold


def test_importing_the_module_imports_no_library():
    code = (
        "import sys, cacop_cli.textextract\n"
        "heavy = {'pypdf', 'docx', 'openpyxl', 'pptx', 'charset_normalizer', 'defusedxml', "
        "'lxml'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_what_the_library_walk_skips_is_read_from_its_xml():
    """openpyxl's read-only mode skips cell comments; footnotes are not in python-docx's
    walk: their XML parts are read as text, so nothing in them leaves unseen."""
    import openpyxl
    from openpyxl.comments import Comment

    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes()))
    book["Q1"]["A4"].comment = Comment("Victim DOB 03/04/2009", "Analyst Kim")
    out = io.BytesIO()
    book.save(out)
    result = extract_bytes(out.getvalue(), "tracker.xlsx")
    assert result.scannable, result.reason
    assert where(result, "Victim DOB").startswith("xl/comments")


def test_an_office_file_inside_one_is_read_and_other_objects_are_not():
    inner = xlsx_bytes()
    outer = office_with(docx_bytes(), {})
    with zipfile.ZipFile(io.BytesIO(outer)) as source:
        members = {member.filename: source.read(member) for member in source.infolist()}
    for name, extra in (("word/embeddings/Sheet1.xlsx", inner), ("word/embeddings/ole1.bin", b"x")):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for member_name, body in {**members, name: extra}.items():
                archive.writestr(member_name, body)
        result = extract_bytes(out.getvalue(), "with-object.docx")
        if name.endswith(".xlsx"):
            assert result.scannable, result.reason
            assert where(result, "HVIP") == 'word/embeddings/Sheet1.xlsx: sheet "Notes" cell B2'
        else:
            assert not result.scannable and "embedded object" in result.reason


def test_a_damaged_pdf_says_nothing_on_stderr():
    code = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "from test_textextract import text_pdf\n"
        "from cacop_cli.textextract import extract_bytes\n"
        "data = text_pdf(['a', 'b'])\n"
        "print(extract_bytes(data[: len(data) // 2], 'x.pdf').reason)\n"
    )
    root = Path(__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60
    )
    assert result.stdout.startswith("a damaged PDF") and result.stderr == ""
