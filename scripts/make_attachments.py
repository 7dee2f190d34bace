"""Write the bundled kb/'s binary attachments: a PDF bulletin, a DOCX SOP, an XLSX tracker.

    python scripts/make_attachments.py        # (re)writes the three files in kb/

Their content is synthetic and holds no personal data (no names of people, addresses,
phone numbers or dates of birth); they exist so that search can be measured on text
that only an attachment holds (tests/relevance/queries.yaml, kind `attachment`). The
files come out byte for byte the same on every run: fixed document dates and fixed
ZIP member times.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK_PRODUCTS = REPO / "kb" / "work-products"
FIXED = datetime(2025, 6, 2, 9, 0, 0)

PDF_PAGES = [
    [
        "Weekly gun-crime bulletin - worked example (synthetic figures)",
        "Week 22. Fatal shootings 2, nonfatal shootings 9, shots-fired calls 41.",
        "Machine gun conversion devices: 3 pistols recovered this week were fitted with",
        "auto sears (so-called Glock switches) that make them fire fully automatic.",
        "Recovered conversion devices go to the ATF for examination and tracing.",
    ],
    [
        "Privately made firearms (ghost guns) recovered: 4, all unserialized.",
        "Two were built from unfinished frame kits bought online.",
        "Guns stolen from unlocked vehicles: 6 thefts reported, mostly overnight",
        "in apartment parking lots; roll call should remind residents to lock cars.",
    ],
    [
        "Ask of patrol this week: extra directed patrol at the two hottest blocks",
        "between 22:00 and 02:00 on Friday and Saturday.",
        "Ask of investigators: prioritise the two NIBIN leads linking last",
        "week's nonfatal shooting to an earlier drive-by.",
    ],
]


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[list[str]]) -> bytes:
    """A small valid PDF: Helvetica text, one line per string, with a correct xref table."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    font, kids = 3, []
    for lines in pages:
        shown = " T* ".join(f"({_pdf_string(line)}) Tj" for line in lines)
        stream = f"BT /F1 11 Tf 14 TL 72 720 Td {shown} ET".encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (content, font)
        )
        kids.append(len(objects))
    kid_refs = b" ".join(b"%d 0 R" % kid for kid in kids)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kid_refs, len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


SOP_SECTIONS = [
    (
        "Purpose",
        "This annex sets the retention and dissemination rules for group-violence network "
        "data held by the crime analysis unit.",
    ),
    (
        "Criteria for inclusion",
        "A person or group enters the network file only on two independent verified "
        "sources, such as a co-arrest and a field interview; a single anonymous tip is "
        "never enough.",
    ),
    (
        "Retention schedule",
        "Every record is reviewed every 180 days. A record with no new verified contact "
        "in two years is purged, and the purge is written in the audit log.",
    ),
    (
        "Dissemination",
        "Network charts leave the unit only on a need-to-know basis, after a two-person "
        "review, and each release is entered in the dissemination log.",
    ),
    (
        "Appeals",
        "A community partner or defence counsel may ask for a record to be reviewed; the "
        "unit supervisor answers within 30 days.",
    ),
]

TRACKER_HEADER = [
    "review_no",
    "district",
    "shooting_type",
    "retaliation_risk",
    "camera_canvass_hours",
    "nibin_entry_hours",
    "hospital_liaison_contacted",
    "social_media_sweep",
    "met_72_hour_mark",
]
TRACKER_ROWS = [
    ["R-01", "District 2", "nonfatal", "high", 6, 20, "yes", "done", "yes"],
    ["R-02", "District 5", "fatal", "high", 4, 30, "yes", "done", "yes"],
    ["R-03", "District 2", "nonfatal", "medium", 12, 52, "no", "pending", "no"],
    ["R-04", "District 7", "nonfatal", "low", 8, 26, "yes", "done", "yes"],
    ["R-05", "District 5", "fatal", "high", 3, 80, "yes", "done", "no"],
]
TRACKER_SUMMARY = [
    ["measure", "value"],
    ["reviews this quarter", 5],
    ["share meeting the 72-hour mark", "60%"],
    ["median hours to NIBIN entry of casings", 30],
    ["median hours to camera canvass", 6],
    ["reviews rated high retaliation risk", 3],
]


def _fixed_zip(data: bytes) -> bytes:
    """The same ZIP with every member's time set to FIXED (python-docx and openpyxl stamp
    the time of writing), so the file is the same bytes on every run."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, FIXED.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            content = source.read(member.filename)
            if member.filename == "docProps/core.xml":  # openpyxl stamps "modified" on save
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2025-06-02T09:00:00Z", content
                )
            target.writestr(info, content)
    return out.getvalue()


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    properties = document.core_properties
    properties.author = properties.last_modified_by = "Crime Analysis Unit"
    properties.created = properties.modified = FIXED
    properties.title = "Network data retention and dissemination SOP"
    document.add_heading("Network data retention and dissemination SOP", level=1)
    for heading, text in SOP_SECTIONS:
        document.add_heading(heading, level=2)
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue())


def xlsx_bytes() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.properties.creator = workbook.properties.lastModifiedBy = "Crime Analysis Unit"
    workbook.properties.created = workbook.properties.modified = FIXED
    reviews = workbook.active
    reviews.title = "Reviews"
    for row in [TRACKER_HEADER, *TRACKER_ROWS]:
        reviews.append(row)
    summary = workbook.create_sheet("Summary")
    for row in TRACKER_SUMMARY:
        summary.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _fixed_zip(buffer.getvalue())


FILES = {
    "milwaukee-2024-weekly-gun-crime-bulletin-template/weekly-bulletin-example.pdf": lambda: (
        pdf_bytes(PDF_PAGES)
    ),
    "kansas-city-2024-network-analysis-sop-for-group-violence/network-data-retention-sop.docx": (
        docx_bytes
    ),
    "memphis-2025-72-hour-shooting-review-checklist/shooting-review-tracker.xlsx": xlsx_bytes,
}


def main() -> None:
    for rel, make in FILES.items():
        path = WORK_PRODUCTS / rel
        path.write_bytes(make())
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
