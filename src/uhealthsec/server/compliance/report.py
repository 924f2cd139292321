"""The compliance dashboard as a dated PDF report, in French, for an inspector.

Written by hand (PDF 1.7, the standard Helvetica fonts in WinAnsi encoding, which
covers French): the report is text only, and no PDF library is worth a dependency for
it. Each line says its status in words, not by colour alone, the rule behind the status
and what it was computed from.
"""

from __future__ import annotations

import textwrap

from uhealthsec.server.compliance.dashboard import STATUS_LABELS, Dashboard, Status
from uhealthsec.server.incidents.anomalies.rules import PARIS

#: A4, in points; margins.
WIDTH, HEIGHT = 595, 842
MARGIN = 56
#: Characters per line at 10 pt: Helvetica's French text averages under half an em a
#: character, so this many fit in the width between the margins.
COLUMNS = 88
COLOURS = {Status.OK: "0 0.45 0", Status.WATCH: "0.7 0.4 0", Status.LATE: "0.75 0 0"}
READING = (
    "Chaque ligne donne un statut écrit en toutes lettres : CONFORME (la règle est "
    "respectée), À SURVEILLER (rien n'est en faute, mais une échéance approche ou une "
    "mesure recommandée manque) ou EN RETARD (la règle n'est pas respectée aujourd'hui). "
    "Sous chaque ligne : le constat, le détail, et la règle qui donne le statut. Les "
    "chiffres sont calculés au moment de la demande à partir des données du serveur "
    "(comptes, demandes, journal, registre des violations, sauvegardes, réglages) ; "
    "aucun n'est recopié ni saisi à la main."
)


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


class _Pages:
    """Lines laid out top to bottom, a new page when one is full."""

    def __init__(self) -> None:
        self.pages: list[list[bytes]] = [[]]
        self.y: float = HEIGHT - MARGIN

    def line(
        self,
        text: str,
        *,
        size: float = 10,
        bold: bool = False,
        colour: str = "0 0 0",
        indent: int = 0,
    ) -> None:
        leading = size * 1.35
        if self.y - leading < MARGIN:
            self.pages.append([])
            self.y = HEIGHT - MARGIN
        self.y -= leading
        font = b"/F2" if bold else b"/F1"
        self.pages[-1].append(
            b"BT %s %.1f Tf %s rg %d %.1f Td (%s) Tj ET"
            % (font, size, colour.encode(), MARGIN + indent, self.y, _pdf_text(text))
        )

    def paragraph(self, text: str, *, indent: int = 0, **style: object) -> None:
        width = COLUMNS - indent // 5
        for piece in textwrap.wrap(text, width) or [""]:
            self.line(piece, indent=indent, **style)  # type: ignore[arg-type]

    def gap(self, points: float = 6) -> None:
        self.y -= points


def report_pdf(dashboard: Dashboard) -> bytes:
    """The report of one practice's dashboard."""
    out = _Pages()
    when = dashboard.generated_at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M (heure de Paris)")
    out.paragraph("Rapport de conformité RGPD", size=16, bold=True)
    out.paragraph(f"Cabinet : {dashboard.practice_name}", size=12, bold=True)
    out.paragraph(
        f"Établi le {when} par U-HealthSec (identifiant du cabinet {dashboard.practice_id})."
    )
    overall = dashboard.status
    out.paragraph(
        f"Statut d'ensemble : {STATUS_LABELS[overall].upper()} (le plus défavorable des "
        "lignes ci-dessous)",
        bold=True,
        colour=COLOURS[overall],
    )
    out.gap()
    out.paragraph("Comment lire ce rapport", size=12, bold=True)
    out.paragraph(READING)
    for number, item in enumerate(dashboard.items, 1):
        out.gap(10)
        out.paragraph(f"{number}. {item.title}", size=12, bold=True)
        out.paragraph(
            f"Statut : {STATUS_LABELS[item.status].upper()}", bold=True, colour=COLOURS[item.status]
        )
        out.paragraph(f"Constat : {item.summary}")
        for detail in item.details:
            out.paragraph(f"- {detail}", indent=12)
        out.paragraph(f"Règle : {item.rule}", colour="0.25 0.25 0.25")
    out.gap(10)
    out.paragraph(
        "Ce rapport décrit l'état du cabinet à l'instant où il a été établi. Le registre "
        "des traitements (uhs-server processing-record) et le registre des violations "
        "(uhs incident) le complètent.",
        colour="0.25 0.25 0.25",
    )
    return _document(out.pages, when)


def _document(pages: list[list[bytes]], when: str) -> bytes:
    """Objects: 1 catalog, 2 page tree, 3 and 4 fonts, 5 information, then a page and its
    content stream for each page."""
    total = len(pages)
    first_page = 6
    kids = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(total))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Lang (fr-FR) >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, total),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title (%s) /Producer (U-HealthSec) >>" % _pdf_text(f"Rapport de conformité, {when}"),
    ]
    for number, lines in enumerate(pages, 1):
        footer = b"BT /F1 8 Tf 0.4 0.4 0.4 rg %d %d Td (%s) Tj ET" % (
            MARGIN,
            MARGIN // 2,
            _pdf_text(f"Rapport de conformité du {when} - page {number} sur {total}"),
        )
        stream = b"\n".join([*lines, footer])
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << "
            b"/F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>"
            % (WIDTH, HEIGHT, first_page + 2 * (number - 1) + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    return pdf_file(objects, info=5)


def pdf_file(objects: list[bytes], *, info: int | None = None) -> bytes:
    """A PDF file of ``objects`` (object 1 the catalog, ``info`` the number of the
    information dictionary if any), numbered from 1 in order, with its cross-reference
    table computed here."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    information = b" /Info %d 0 R" % info if info is not None else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        information,
        table,
    )
    return bytes(out)
