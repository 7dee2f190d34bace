"""Text out of attachments, for the sharing gate and for search: one function for both.

`extract(path)` (or `extract_bytes(data, name)` for a git blob) decides what a file is by
its content first and its name second, and returns an `Extracted`: the text in located
parts ("page 3", 'sheet "Q1" cell B7', "slide 2 notes", "line 12", "properties"), the
tables with their column headers, and whether the whole file was read. What cannot be read
in full (an image, a ZIP, an encrypted PDF, a bomb, a damaged file, text over the limit)
says so in `reason`: the gate does not send what it cannot read.

Bounded on hostile input: Office files are checked as ZIPs (declared sizes, ratios, member
count, and no DTD or entity in any XML part) before a library sees them; PDFs are refused
over a page count; the text kept is capped; a deadline is checked as parts are read.

Every third-party library is imported inside the function that uses it, so importing this
module costs nothing to commands that never read an attachment.

Over 600 lines because eight readers (text, CSV, Markdown, JSON, PDF, DOCX, XLSX, PPTX) share
one set of bounds, one location scheme and one cache; each reader is short, and splitting
them apart would put the limits that protect a reader away from the code they protect.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import csv
import gc
import hashlib
import io
import json
import logging
import os
import re
import struct
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .entries import read_regular_file
from .errors import EntryError

VERSION = 1  # bump when the output for the same bytes changes: the cache is keyed on it

MAX_FILE_BYTES = 32 * 1_048_576
MAX_TEXT_CHARS = 20_000_000
MAX_PDF_PAGES = 500
MAX_UNZIPPED_BYTES = 200 * 1_048_576
MAX_ZIP_RATIO = 100  # for members over BIG_MEMBER bytes unpacked
BIG_MEMBER = 1_048_576
MAX_ZIP_MEMBERS = 10_000
MAX_NESTING = 2  # an Office file inside an Office file inside an Office file, no deeper
TIME_LIMIT = 30.0  # seconds, checked between pages, rows and parts

IMAGE = "an image: cacop cannot read text from it"
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image", IMAGE),
    (b"\xff\xd8\xff", "image", IMAGE),
    (b"GIF87a", "image", IMAGE),
    (b"GIF89a", "image", IMAGE),
    (b"BM", "image", IMAGE),
    (b"II*\x00", "image", IMAGE),
    (b"MM\x00*", "image", IMAGE),
    (b"\x00\x00\x01\x00", "image", IMAGE),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy-office",
     "a legacy Office file (.doc, .xls, .ppt or .msg): cacop cannot read it; save it as "
     ".docx, .xlsx or .pptx"),
    (b"\x1f\x8b", "archive", "a gzip archive: cacop cannot read inside it"),
    (b"7z\xbc\xaf\x27\x1c", "archive", "a 7-Zip archive: cacop cannot read inside it"),
    (b"Rar!\x1a\x07", "archive", "a RAR archive: cacop cannot read inside it"),
    (b"BZh", "archive", "a bzip2 archive: cacop cannot read inside it"),
    (b"\xfd7zXZ\x00", "archive", "an xz archive: cacop cannot read inside it"),
    (b"{\\rtf", "rtf", "an RTF document: cacop cannot read it; save it as .docx"),
)  # fmt: skip
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DTD = re.compile(
    rb"<!(?:DOCTYPE|ENTITY)|<\x00!\x00[DE]\x00|\x00<\x00!\x00[DE]", re.IGNORECASE
)  # UTF-8 and both UTF-16 byte orders


# ---------------------------------------------------------------- what comes out


@dataclass(frozen=True)
class Part:
    """Some of a file's text and where it is.

    `where(offset)` names the place of a character: "line 12" when the part is the file's
    own lines (`first_line` set), the label of the nearest mark before it when the part has
    marks (a spreadsheet's cells, a JSON document's paths), else `location`."""

    location: str  # "page 3", 'sheet "Q1"', "slide 2 notes", "header", "properties", "text"
    text: str
    first_line: int | None = None
    marks: tuple[int, ...] = ()  # offsets into text, ascending …
    labels: tuple[str, ...] = ()  # … and the place each one starts: 'sheet "Q1" cell B7'

    def where(self, offset: int) -> str:
        if self.first_line is not None:
            return f"line {self.first_line + self.text.count(chr(10), 0, offset)}"
        index = bisect.bisect_right(self.marks, offset) - 1
        return self.labels[index] if index >= 0 else self.location


class Row(NamedTuple):
    """One row under a header; a tuple, because a CSV has a hundred thousand of them."""

    location: str  # "line 12", 'sheet "Q1" row 7', "table 2 row 3", "$.features[0].properties"
    number: int  # the line, sheet row or table row it names
    cells: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """Rows under a header row: a CSV, a sheet, a Markdown, DOCX or PPTX table, a JSON object."""

    location: str  # 'sheet "Q1"', "lines 1-40", "table 2", "slide 3 table 1", "$.people[0]"
    header: tuple[str, ...]
    rows: tuple[Row, ...]
    sheet: str | None = None  # set for spreadsheets: a cell is named by its column letter
    first_column: int = 1  # the sheet column of header[0]
    json: bool = False  # a JSON object: a cell is named by its path

    def cell_location(self, row: Row, index: int) -> str:
        if self.sheet is not None:
            return (
                f'sheet "{self.sheet}" cell {column_letter(self.first_column + index)}{row.number}'
            )
        if self.json:
            return _json_path(row.location, self.header[index])
        return row.location


@dataclass(frozen=True)
class Cell:
    location: str  # 'sheet "Q1" cell B7', "line 12", '$.people[0].dob'
    header: str  # the header of its column, as written
    text: str


@dataclass(frozen=True)
class Extracted:
    """What cacop could read of one file, and whether that is all of it."""

    kind: str  # text, csv, markdown, json, pdf, docx, xlsx, pptx, image, zip, archive, binary…
    scannable: bool  # False: something in the file was not read; `reason` says what
    reason: str | None = None
    parts: tuple[Part, ...] = ()
    tables: tuple[Table, ...] = ()

    @property
    def text(self) -> str:
        """All the text, parts apart by blank lines: what search indexes."""
        return "\n\n".join(part.text for part in self.parts if part.text)

    def cells_under(self, matches: Callable[[str], bool]) -> Iterator[Cell]:
        """Every non-empty value in a column whose header `matches`, with its location."""
        for table in self.tables:
            columns = [index for index, name in enumerate(table.header) if matches(name)]
            for row in table.rows if columns else ():
                for index in columns:
                    if index < len(row.cells) and row.cells[index].strip():
                        yield Cell(table.cell_location(row, index), table.header[index],
                                   row.cells[index])  # fmt: skip


def column_letter(number: int) -> str:
    """1 → A, 28 → AB: a spreadsheet's name for a column."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _json_path(base: str, key: str) -> str:
    return f"{base}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{base}[{key!r}]"


# ---------------------------------------------------------------- the entry points


def extract(
    path: Path, *, cache_dir: Path | None = None, max_bytes: int = MAX_FILE_BYTES
) -> Extracted:
    """Read one attachment: never through a link, never a pipe or a device.

    `cache_dir` (the KB's `.cacop/extract/`) keeps the result by the SHA-256 of the bytes,
    so reading an unchanged file again costs a hash and a JSON load."""
    try:
        data = read_regular_file(Path(path), max_bytes)
    except EntryError as error:
        return Extracted("unreadable", False, _unreadable(error, max_bytes))
    return extract_bytes(data, Path(path).name, cache_dir=cache_dir)


def extract_bytes(data: bytes, name: str, *, cache_dir: Path | None = None) -> Extracted:
    """Read a file's bytes (a blob about to leave, say); `name` only breaks ties of kind."""
    cached = _cache_file(cache_dir, data) if cache_dir is not None else None
    if cached is not None:
        found = _load(cached)
        if found is not None:
            return found
    result = _Reader(time.monotonic() + TIME_LIMIT).read(data, name, depth=0)
    if cached is not None:
        _store(cached, result)
    return result


def _unreadable(error: EntryError, max_bytes: int) -> str:
    if error.code == "link":
        return "a symbolic link: cacop does not follow links; put the file itself in its place"
    if error.code == "not-a-file":
        return "not a regular file (a pipe, a device or a folder)"
    if error.code == "too-large":
        return f"over the limit of {max_bytes:,} bytes"
    return error.message


# ---------------------------------------------------------------- deciding and reading


class _Limit(Exception):
    """A bound was reached: the file is not read in full. Carries the reason."""


# What the libraries raise on a damaged file. Only the library calls run under it.
_DAMAGE: tuple[type[BaseException], ...] = (
    ValueError, KeyError, IndexError, TypeError, AttributeError, ArithmeticError, EOFError,
    RecursionError, zipfile.BadZipFile, zlib.error, struct.error, NotImplementedError,
)  # fmt: skip


@dataclass
class _Reader:
    deadline: float
    chars: int = 0
    parts: list[Part] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Limit(f"took longer than {TIME_LIMIT:.0f} s to read")

    def add(self, part: Part) -> None:
        self.chars += len(part.text)
        if self.chars > MAX_TEXT_CHARS:
            keep = len(part.text) - (self.chars - MAX_TEXT_CHARS)
            self.parts.append(Part(part.location, part.text[:keep], part.first_line))
            raise _Limit(
                f"holds over {MAX_TEXT_CHARS:,} characters of text; only the start was read"
            )
        self.parts.append(part)

    def read(self, data: bytes, name: str, depth: int) -> Extracted:
        kind, refusal = _kind(data, name)
        if refusal is not None:
            return Extracted(kind, False, refusal)
        reader = getattr(self, f"_{kind}")
        # The libraries talk about damage on stderr (pypdf logs, openpyxl warns); the
        # reason returned says it once, to the caller, who decides what a person sees.
        logging.getLogger("pypdf").setLevel(logging.CRITICAL)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reader(data, name, depth)
        except _Limit as limit:
            return self._result(kind, str(limit))
        except _Damaged as damage:
            return self._result(kind, f"a damaged {kind.upper()}: {damage}")
        return self._result(kind, None)

    def _result(self, kind: str, reason: str | None) -> Extracted:
        return Extracted(kind, reason is None, reason, tuple(self.parts), tuple(self.tables))

    # -- text and its kinds

    def _text(self, data: bytes, name: str, depth: int) -> None:
        self.add(Part("text", _decode(data), first_line=1))

    def _markdown(self, data: bytes, name: str, depth: int) -> None:
        text = _decode(data)
        self.add(Part("text", text, first_line=1))
        self.tables.extend(_pipe_tables(text))

    def _csv(self, data: bytes, name: str, depth: int) -> None:
        text = _decode(data)
        self.add(Part("text", text, first_line=1))
        tab = name.lower().endswith((".tsv", ".tab"))
        try:
            table = _csv_table(text, "\t" if tab else None, self.tick)
        except csv.Error as error:
            raise _Damaged(f"cannot split it into columns: {error}") from error
        if table is not None:
            self.tables.append(table)

    def _json(self, data: bytes, name: str, depth: int) -> None:
        text = _decode(data)
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
            raise _Damaged(f"not valid JSON: {error}") from error
        lines: list[str] = []
        marks: list[int] = []
        labels: list[str] = []
        offset = 0
        for path, line in _json_lines(document, "$", self.tables):
            marks.append(offset)
            labels.append(path)
            lines.append(line)
            offset += len(line) + 1
        self.add(Part("JSON", "\n".join(lines), marks=tuple(marks), labels=tuple(labels)))

    # -- PDF

    def _pdf(self, data: bytes, name: str, depth: int) -> None:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError

        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise _Limit("an encrypted PDF: cacop cannot read it; share it unencrypted")
            pages = len(reader.pages)  # walks the page tree: a lying /Count does not count
            if pages > MAX_PDF_PAGES:
                raise _Limit(f"over the limit of {MAX_PDF_PAGES} pages ({pages} pages)")
            if reader.attachments:
                raise _Limit("a PDF with files attached inside it: cacop cannot read those")
            properties = _pdf_properties(reader)
            if properties:
                self.add(Part("properties", properties))
            fields = reader.get_fields() or {}
            values = [f"{key}: {value.get('/V')}" for key, value in fields.items()
                      if value.get("/V") not in (None, "")]  # fmt: skip
            if values:
                self.add(Part("form fields", "\n".join(values)))
            any_text = False
            for number, page in enumerate(reader.pages, start=1):
                self.tick()
                text = page.extract_text() or ""
                annotations = page.get("/Annots")
                annotations = annotations.get_object() if annotations is not None else ()
                notes = [str(annotation.get_object().get("/Contents", ""))
                         for annotation in annotations]  # fmt: skip
                text = "\n".join([text, *[note for note in notes if note]]).strip()
                any_text = any_text or bool(text)
                self.add(Part(f"page {number}", text))
        except (PyPdfError, *_DAMAGE) as error:
            raise _Damaged(_say(error)) from error
        if pages and not any_text:
            raise _Limit("a PDF with no text in it (scanned pages?): cacop cannot read images")

    # -- Office files: checked as ZIPs first, then read by their library

    def _docx(self, data: bytes, name: str, depth: int) -> None:
        members = _safe_members(data)
        from docx import Document
        from docx.exceptions import PythonDocxError
        from docx.opc.exceptions import PackageNotFoundError
        from lxml.etree import LxmlError

        try:
            document = Document(io.BytesIO(data))
            self._docx_properties(document.core_properties)
            self._docx_body(document)
            for number, section in enumerate(document.sections, start=1):
                for place, story in (("header", section.header), ("footer", section.footer),
                                     ("first-page header", section.first_page_header),
                                     ("first-page footer", section.first_page_footer),
                                     ("even-page header", section.even_page_header),
                                     ("even-page footer", section.even_page_footer)):  # fmt: skip
                    if story.is_linked_to_previous:
                        continue
                    where = place if len(document.sections) == 1 else f"section {number} {place}"
                    self._docx_story(story, where)
            comments = [
                f"{comment.author or ''} ({comment.initials or ''}): {comment.text}"
                for comment in document.comments
            ]
            if comments:
                self.add(Part("comments", "\n".join(comments)))
        except (PythonDocxError, PackageNotFoundError, LxmlError, *_DAMAGE) as error:
            raise _Damaged(_say(error)) from error
        self._rest(data, members, _DOCX_READ, depth)

    def _docx_properties(self, core: Any) -> None:
        values = [
            f"{label}: {value}"
            for label, value in (
                ("author", core.author),
                ("last modified by", core.last_modified_by),
                ("title", core.title),
                ("subject", core.subject),
                ("keywords", core.keywords),
                ("comments", core.comments),
                ("category", core.category),
            )  # fmt: skip
            if value
        ]
        if values:
            self.add(Part("properties", "\n".join(values)))

    def _docx_body(self, document: Any) -> None:
        self._docx_story(document, "body")

    def _docx_story(self, story: Any, where: str) -> None:
        from docx.table import Table as DocxTable

        paragraphs: list[str] = []
        tables = 0
        for block in story.iter_inner_content():
            self.tick()
            if isinstance(block, DocxTable):
                tables += 1
                self._docx_table(block, f"{where} table {tables}")
            else:
                paragraphs.append(block.text)
        text = "\n".join(paragraphs).strip()
        if text:
            self.add(Part(where, text))

    def _docx_table(self, table: Any, where: str) -> None:
        rows = [tuple(cell.text for cell in row.cells) for row in table.rows]
        self._table(where, rows, lambda number: f"{where} row {number}")

    def _xlsx(self, data: bytes, name: str, depth: int) -> None:
        members = _safe_members(data)
        from xml.etree.ElementTree import ParseError

        from defusedxml import DefusedXmlException
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (InvalidFileException, ParseError, DefusedXmlException, *_DAMAGE) as error:
            raise _Damaged(_say(error)) from error
        try:
            names = book.sheetnames
            self.add(Part("sheet names", "\n".join(names)))
            props = book.properties
            values = [f"{label}: {value}" for label, value in (
                ("author", props.creator), ("last modified by", props.lastModifiedBy),
                ("title", props.title), ("subject", props.subject),
                ("keywords", props.keywords), ("description", props.description),
            ) if value]  # fmt: skip
            if values:
                self.add(Part("properties", "\n".join(values)))
            for sheet in book.worksheets:
                self._sheet(sheet)
        except (ParseError, DefusedXmlException, *_DAMAGE) as error:
            raise _Damaged(_say(error)) from error
        finally:
            book.close()
        self._rest(data, members, _XLSX_READ, depth)

    def _sheet(self, sheet: Any) -> None:
        """One sheet: a row a line, cells apart by tabs, each cell marked with its name."""
        title = sheet.title
        lines: list[str] = []
        marks: list[int] = []
        labels: list[str] = []
        rows: list[tuple[int, int, list[str]]] = []  # (row number, first column, values)
        offset = 0
        for count, row in enumerate(sheet.iter_rows(), start=1):
            if count % 1000 == 0:
                self.tick()
            values: list[str] = []
            first = number = 0
            for cell in row:
                value = getattr(cell, "value", None)
                if value is None or value == "":
                    if values:
                        values.append("")
                    continue
                if not values:
                    first, number = cell.column, cell.row
                text = str(value)
                marks.append(offset + sum(len(v) + 1 for v in values))
                labels.append(f'sheet "{title}" cell {column_letter(cell.column)}{cell.row}')
                values.append(text)
            if values:
                while not values[-1]:
                    values.pop()
                rows.append((number, first, values))
                line = "\t".join(values)
                lines.append(line)
                offset += len(line) + 1
        text = "\n".join(lines)
        self.add(Part(f'sheet "{title}"', text, marks=tuple(marks), labels=tuple(labels)))
        self._sheet_table(title, rows)

    def _sheet_table(self, title: str, rows: list[tuple[int, int, list[str]]]) -> None:
        start = _header_index([values for _, _, values in rows[:50]])
        if start is None:
            return
        number, first, header = rows[start]
        body = []
        for row_number, row_first, values in rows[start + 1 :]:
            shift = row_first - first  # align every row to the header's columns
            cells = [""] * max(shift, 0) + values[max(-shift, 0) :]
            body.append(Row(f'sheet "{title}" row {row_number}', row_number, tuple(cells)))
        self.tables.append(Table(f'sheet "{title}"', tuple(header), tuple(body), title, first))

    def _pptx(self, data: bytes, name: str, depth: int) -> None:
        members = _safe_members(data)
        from lxml.etree import LxmlError
        from pptx import Presentation
        from pptx.exc import PythonPptxError

        try:
            deck = Presentation(io.BytesIO(data))
            core = deck.core_properties
            self._docx_properties(core)
            for number, slide in enumerate(deck.slides, start=1):
                self.tick()
                texts: list[str] = []
                tables = 0
                for shape in _shapes(slide.shapes):
                    if getattr(shape, "has_table", False) and shape.has_table:
                        tables += 1
                        rows = [tuple(cell.text for cell in row.cells) for row in shape.table.rows]
                        where = f"slide {number} table {tables}"
                        self._table(where, rows, lambda row, where=where: f"{where} row {row}")
                    elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                        texts.append(shape.text_frame.text)
                self.add(Part(f"slide {number}", "\n".join(texts).strip()))
                if slide.has_notes_slide:
                    notes = slide.notes_slide.notes_text_frame
                    if notes is not None and notes.text.strip():
                        self.add(Part(f"slide {number} notes", notes.text.strip()))
        except (PythonPptxError, LxmlError, *_DAMAGE) as error:
            raise _Damaged(_say(error)) from error
        self._rest(data, members, _PPTX_READ, depth)

    def _table(self, where: str, rows: list[tuple[str, ...]], label: Callable[[int], str]) -> None:
        """A table of a document: its text goes in a part; its header row names the columns."""
        text = "\n".join("\t".join(cells) for cells in rows).strip()
        if text:
            self.add(Part(where, text))
        start = _header_index([list(cells) for cells in rows[:50]])
        if start is None:
            return
        body = tuple(
            Row(label(number), number, cells)
            for number, cells in enumerate(rows, start=1)
            if number > start + 1
        )
        self.tables.append(Table(where, rows[start], body))

    def _rest(
        self, data: bytes, members: list[zipfile.ZipInfo], read: re.Pattern, depth: int
    ) -> None:
        """What the library walk does not cover: comments, text boxes, charts, custom
        properties as text of their XML part; Office files embedded in it, read in turn;
        anything else embedded is something cacop cannot read."""
        from xml.etree.ElementTree import ParseError

        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import iterparse

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in members:
                self.tick()
                lowered = member.filename.lower()
                if read.fullmatch(member.filename) or member.is_dir():
                    continue
                if lowered.endswith((".xml", ".rels", ".vml")):
                    if lowered.endswith(".rels") or "/theme/" in lowered or "styles" in lowered:
                        continue
                    words: list[str] = []
                    try:
                        for _, element in iterparse(archive.open(member), forbid_dtd=True):
                            for piece in (element.text, element.tail):
                                if piece and piece.strip():
                                    words.append(piece.strip())
                            element.clear()
                    except (ParseError, DefusedXmlException, *_DAMAGE) as error:
                        raise _Damaged(f"{member.filename}: {_say(error)}") from error
                    if words:
                        self.add(Part(member.filename, "\n".join(words)))
                elif "/embeddings/" in lowered and lowered.endswith((".docx", ".xlsx", ".pptx")):
                    if depth >= MAX_NESTING:
                        raise _Limit(f"{member.filename}: Office files nested too deep")
                    inner = _Reader(self.deadline)
                    found = inner.read(archive.read(member), member.filename, depth + 1)
                    for part in found.parts:
                        labels = tuple(f"{member.filename}: {label}" for label in part.labels)
                        where = f"{member.filename}: {part.location}"
                        self.add(Part(where, part.text, part.first_line, part.marks, labels))
                    self.tables.extend(found.tables)
                    if not found.scannable:
                        raise _Limit(f"{member.filename}: {found.reason}")
                elif "/printersettings/" in lowered:
                    continue  # the printer's settings: a binary record with no one's text
                elif "/embeddings/" in lowered or lowered.endswith(".bin"):
                    raise _Limit(f"holds an embedded object cacop cannot read ({member.filename})")


class _Damaged(Exception):
    """A library could not read the file: carries what it said."""


def _say(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return text or type(error).__name__


# ---------------------------------------------------------------- deciding the kind

_DOCX_READ = re.compile(
    r"word/(document|header\d*|footer\d*|comments)\.xml|docProps/core\.xml|\[Content_Types\]\.xml"
    r"|word/(fontTable|settings|webSettings|numbering)\.xml"
)
_XLSX_READ = re.compile(
    r"xl/(workbook|sharedStrings|styles|calcChain)\.xml|xl/worksheets/sheet\d+\.xml"
    r"|docProps/(core|app)\.xml|\[Content_Types\]\.xml"
)
_PPTX_READ = re.compile(
    r"ppt/(presentation|presProps|viewProps|tableStyles)\.xml|ppt/slides/slide\d+\.xml"
    r"|ppt/(notesSlides/notesSlide\d+|slideMasters/slideMaster\d+|slideLayouts/slideLayout\d+"
    r"|notesMasters/notesMaster\d+|handoutMasters/handoutMaster\d+)\.xml"
    r"|docProps/(core|app)\.xml|\[Content_Types\]\.xml"
)
_TEXT_SUFFIXES = {
    ".csv": "csv", ".tsv": "csv", ".tab": "csv", ".md": "markdown", ".markdown": "markdown",
    ".json": "json", ".geojson": "json",
}  # fmt: skip


def _kind(data: bytes, name: str) -> tuple[str, str | None]:
    """What the bytes are (by content, then by name), and why they cannot be read if not."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf", None
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _zip_kind(data)
    for magic, kind, reason in _MAGIC:
        if data.startswith(magic):
            return kind, reason
    if data[4:8] == b"ftyp" or (data.startswith(b"RIFF") and data[8:12] == b"WEBP"):
        return "image", "an image or a video: cacop cannot read text from it"
    suffix = Path(name).suffix.lower()
    if not _looks_like_text(data):
        if suffix in (".doc", ".xls", ".ppt", ".docx", ".xlsx", ".pptx", ".pdf", ".zip"):
            return "binary", f"not a {suffix[1:].upper()} file inside: cacop cannot read it"
        return "binary", "a binary file of a kind cacop cannot read"
    return _TEXT_SUFFIXES.get(suffix, "text"), None


def _zip_kind(data: bytes) -> tuple[str, str | None]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist()[: MAX_ZIP_MEMBERS + 1])
    except (zipfile.BadZipFile, ValueError, EOFError, struct.error) as error:
        return "zip", f"a damaged ZIP or Office file: {_say(error)}"
    if "[Content_Types].xml" in names:
        for part, kind in (("word/document.xml", "docx"), ("xl/workbook.xml", "xlsx"),
                           ("ppt/presentation.xml", "pptx")):  # fmt: skip
            if part in names:
                return kind, None
        return "zip", "an Office file of a kind cacop cannot read"
    if "mimetype" in names and any(name.startswith("content.xml") for name in names):
        return "opendocument", (
            "an OpenDocument file: cacop cannot read it; save it as .docx, .xlsx or .pptx"
        )
    return "zip", "a ZIP archive: cacop cannot read inside it; attach the files themselves"


def _safe_members(data: bytes) -> list[zipfile.ZipInfo]:
    """The members of an Office file, once its sizes and XML are known to be safe to hand
    to a library: a bomb or an XML part with a DTD or entity is refused here."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise _Limit(f"over the limit of {MAX_ZIP_MEMBERS:,} parts in one file")
        total = sum(member.file_size for member in members)
        if total > MAX_UNZIPPED_BYTES:
            raise _Limit(
                f"unpacks to {total:,} bytes, over the limit of {MAX_UNZIPPED_BYTES:,} "
                "(a decompression bomb?)"
            )
        for member in members:
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > BIG_MEMBER and ratio > MAX_ZIP_RATIO:
                raise _Limit(
                    f"{member.filename} unpacks {ratio:,.0f} times its size, over the limit of "
                    f"{MAX_ZIP_RATIO}:1 (a decompression bomb?)"
                )
        for member in members:
            if not member.filename.lower().endswith((".xml", ".rels", ".vml")):
                continue
            try:
                with archive.open(member) as stream:
                    tail = b""
                    while chunk := stream.read(1_048_576):
                        if _DTD.search(tail + chunk):
                            raise _Limit(
                                f"{member.filename} declares a DTD or entities, which Office "
                                "never writes: cacop does not read it"
                            )
                        tail = chunk[-16:]
            except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
                raise _Damaged(f"{member.filename}: {_say(error)}") from error
    return members


def _looks_like_text(data: bytes) -> bool:
    sample = data[:65_536]
    if not sample or any(sample.startswith(bom) for bom, _ in _BOMS):
        return True
    if b"\x00" in sample:  # UTF-16 without a BOM is text; anything else with NULs is not
        return _guess(sample) in ("utf_16", "utf_16_le", "utf_16_be", "utf_32")
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return controls <= len(sample) // 100


def _guess(sample: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    return best.encoding if best is not None else None


def _decode(data: bytes) -> str:
    """Text in any common encoding: a BOM says which; else UTF-8 if it is; else
    charset-normalizer's choice, Windows-1252 when it has none (every byte means a letter
    there, so nothing is lost from view)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    encoding = _guess(data[:1_048_576]) or "cp1252"
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:
        return data.decode("cp1252", errors="replace")


# ---------------------------------------------------------------- tables in text


def _header_index(rows: list[list[str]]) -> int | None:
    """The header row: the first with two or more filled cells (a title above it has one),
    else the first filled row; None for an empty table."""
    first = None
    for index, cells in enumerate(rows[:50]):
        filled = sum(1 for cell in cells if str(cell).strip())
        if filled >= 2:
            return index
        if filled and first is None:
            first = index
    return first


def _csv_table(text: str, delimiter: str | None, tick: Callable[[], None]) -> Table | None:
    sample = text[:65_536]
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    with _no_collection():
        return _csv_rows(text, delimiter, tick)


def _csv_rows(text: str, delimiter: str, tick: Callable[[], None]) -> Table | None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    parsed = list(reader)
    tick()
    if reader.line_num == len(parsed):  # no quoted line breaks: row n is on line n
        rows = [(line, tuple(cells)) for line, cells in enumerate(parsed, start=1)]
    else:  # find where each row starts, again, line by line
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = []
        start = 1
        for cells in reader:
            rows.append((start, tuple(cells)))
            start = reader.line_num + 1
    header_at = _header_index([list(cells) for _, cells in rows[:50]])
    if header_at is None:
        return None
    header_line, header = rows[header_at]
    body = tuple(Row(f"line {line}", line, cells) for line, cells in rows[header_at + 1 :])
    last = rows[-1][0]
    return Table(f"lines {header_line}-{last}", header, body)


_DELIMITER_ROW = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")


def _pipe_cells(line: str) -> tuple[str, ...]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return tuple(cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line))


def _pipe_tables(text: str) -> list[Table]:
    lines = text.split("\n")
    tables: list[Table] = []
    index = 1
    while index < len(lines):
        if "|" in lines[index] and "|" in lines[index - 1] and _DELIMITER_ROW.match(lines[index]):
            header = _pipe_cells(lines[index - 1])
            rows = []
            end = index + 1
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                rows.append(Row(f"line {end + 1}", end + 1, _pipe_cells(lines[end])))
                end += 1
            tables.append(Table(f"lines {index}-{end}", header, tuple(rows)))
            index = end
        index += 1
    return tables


def _json_lines(value: Any, path: str, tables: list[Table]) -> Iterator[tuple[str, str]]:
    """(JSON path, line of text) for every key and scalar: a key beside its value, so that
    "dob: 2009-03-04" reads as it would in prose. Each object is also a one-row table."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:  # no recursion: 10,000 nested arrays are just a long walk
        node, where = stack.pop()
        if isinstance(node, dict):
            header: list[str] = []
            cells: list[str] = []
            for key, item in node.items():
                inner = _json_path(where, str(key))
                if isinstance(item, (dict, list)):
                    yield inner, str(key)
                    stack.append((item, inner))
                elif item is not None and not isinstance(item, bool):
                    yield inner, f"{key}: {item}"
                    header.append(str(key))
                    cells.append(str(item))
                else:
                    yield inner, str(key)
            if header:
                tables.append(Table(where, tuple(header), (Row(where, 1, tuple(cells)),),
                                    json=True))  # fmt: skip
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{i}]") for i, item in reversed(list(enumerate(node))))
        elif node is not None and not isinstance(node, bool):
            yield where, str(node)


def _shapes(shapes: Any) -> Iterator[Any]:
    for shape in shapes:
        if getattr(shape, "shape_type", None) == 6:  # MSO_SHAPE_TYPE.GROUP
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _pdf_properties(reader: Any) -> str:
    meta = reader.metadata or {}
    values = [f"{str(key).lstrip('/')}: {value}" for key, value in meta.items()
              if isinstance(value, str) and value.strip()]  # fmt: skip
    return "\n".join(values)


# ---------------------------------------------------------------- the cache


def _cache_file(cache_dir: Path, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return Path(cache_dir) / f"{digest}-v{VERSION}.json"


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """Make a hundred thousand rows without the cycle collector walking the heap each
    few hundred of them (it tripled the time of a 5 MB CSV); they hold no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(path: Path) -> Extracted | None:
    """The cached result, or None when there is none or it is damaged (then it is redone)."""
    with _no_collection():
        return _load_json(path)


def _load_json(path: Path) -> Extracted | None:
    from .sealed import opened

    try:
        payload = opened(path, path.read_bytes())  # sealed by this user, never a planted file
        if payload is None:
            return None
        saved = json.loads(payload)
        return Extracted(
            saved["kind"], bool(saved["scannable"]), saved["reason"],
            tuple(Part(loc, text, first, tuple(marks), tuple(labels))
                  for loc, text, first, marks, labels in saved["parts"]),
            tuple(Table(loc, tuple(header),
                        tuple([Row(rloc, num, tuple(cells)) for rloc, num, cells in rows]),
                        sheet, first, is_json)
                  for loc, header, rows, sheet, first, is_json in saved["tables"]),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(path: Path, result: Extracted) -> None:
    """Write the result atomically; a cache that cannot be written is only a slower next run."""
    saved = {
        "version": VERSION,
        "kind": result.kind,
        "scannable": result.scannable,
        "reason": result.reason,
        "parts": [[p.location, p.text, p.first_line, p.marks, p.labels] for p in result.parts],
        "tables": [
            [
                t.location,
                t.header,
                [[r.location, r.number, r.cells] for r in t.rows],
                t.sheet,
                t.first_column,
                t.json,
            ]
            for t in result.tables
        ],  # fmt: skip
    }
    from .sealed import seal

    # dumps is the C encoder; its ASCII output keeps lone surrogates
    sealed = seal(path, json.dumps(saved, separators=(",", ":")).encode("ascii"))
    if sealed is None:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            handle.write(sealed)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
