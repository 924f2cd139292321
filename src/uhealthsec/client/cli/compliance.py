"""Commands of the compliance dashboard, for a practice's admins (and the operators)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    console,
    practice_for,
    print_json,
    shown,
    signed_in_client,
)
from uhealthsec.terminal import command_line

compliance_app = command_line(
    help="(Admins) Where the practice stands: second factors, patients' requests, "
    "consents, retention, breaches, journal, backups, transport; a PDF report to show."
)

#: Said in words and with a sign, not by colour alone.
SIGNS = {"ok": ("✓", "green"), "watch": ("!", "yellow"), "late": ("✗", "red")}
LABELS = {"ok": "conforme", "watch": "à surveiller", "late": "en retard"}


def _text(value: object) -> str:
    return shown(value if isinstance(value, str) else "?")


def _show(dashboard: dict[str, Any]) -> None:
    status = dashboard.get("status")
    sign, colour = (
        SIGNS.get(status, ("?", "default")) if isinstance(status, str) else ("?", "default")
    )
    console.print(
        f"[bold]Conformité — {_text(dashboard.get('practice_name'))}[/bold], établie le "
        f"{_text(dashboard.get('generated_at'))}"
    )
    label = LABELS.get(status, "?") if isinstance(status, str) else "?"
    console.print(f"Statut d'ensemble : [{colour}]{sign} {label}[/{colour}]")
    for item in dashboard.get("items") or []:
        if not isinstance(item, dict):
            continue
        state = item.get("status")
        sign, colour = (
            SIGNS.get(state, ("?", "default")) if isinstance(state, str) else ("?", "default")
        )
        label = LABELS.get(state, "?") if isinstance(state, str) else "?"
        console.print(
            f"\n[{colour}]{sign} {label}[/{colour}] — [bold]{_text(item.get('title'))}[/bold]"
        )
        console.print(f"  {_text(item.get('summary'))}")
        for detail in item.get("details") or []:
            console.print(f"  - {_text(detail)}")
        console.print(f"  [dim]Règle : {_text(item.get('rule'))}[/dim]")


@compliance_app.command("dashboard")
def compliance_dashboard(
    practice: Annotated[str | None, typer.Option(help="Practice id.", metavar="ID")] = None,
    pdf: Annotated[
        Path | None,
        typer.Option(
            "--pdf", help="Write the dated PDF report (in French) to FILE.", metavar="FILE"
        ),
    ] = None,
    all_practices: Annotated[
        bool, typer.Option("--all-practices", help="(Operators) Every practice's dashboard.")
    ] = False,
    as_json: JsonOutput = False,
) -> None:
    """The practice's compliance dashboard: each line's status and the rule behind it."""
    from uhealthsec.client.compliance import ComplianceClient

    with signed_in_client(unlock=False) as client:
        compliance = ComplianceClient(client)
        if all_practices:
            found: list[dict[str, Any]] = []
            after = None
            while True:
                page = compliance.all_practices(after, 100)
                found += page
                if len(page) < 100:
                    break
                after = page[-1]["practice_id"]
            if as_json:
                print_json(found, ascii_only=True)
                return
            for dashboard in found:
                _show(dashboard)
                console.print()
            return
        practice_id = practice_for(client, practice, ("admin",))
        if pdf is not None:
            report = compliance.report(practice_id)
            fd = os.open(pdf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(report)
            console.print(f"Rapport écrit dans {shown(str(pdf))}.")
            return
        dashboard = compliance.dashboard(practice_id)
    if as_json:
        print_json(dashboard, ascii_only=True)
        return
    _show(dashboard)
