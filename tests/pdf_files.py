"""PDF files written by hand for tests (no PDF library): the objects given, in order,
with their cross-reference table computed here."""

from __future__ import annotations


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (object 1 the catalog), numbered from 1 in order."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        table,
    )
    return bytes(out)
