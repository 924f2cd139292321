"""Commands about practices: list, create, invite, members, join."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    SignedIn,
    changes_made,
    connection,
    console,
    notices,
    open_store,
    practice_for,
    print_json,
    print_result,
    shown,
    signed_in_client,
    usage_error,
)
from uhealthsec.client.cli.passwords import ask_code
from uhealthsec.terminal import command_line

if TYPE_CHECKING:
    from uhealthsec.protocol.consent import NoticeOut

practice_app = command_line(help="Your practices: create one, invite its members, list them.")

#: The roles a practice gives; a patient is invited as one too.
ROLES = ("admin", "practitioner", "secretary", "patient")

PracticeChoice = Annotated[
    str | None,
    typer.Option(
        "--practice", help="Practice id or its first characters, if you have several.", metavar="ID"
    ),
]


@contextmanager
def _signed_in() -> Iterator[SignedIn]:
    """Signed in without unlocking the keys: nothing here is encrypted."""
    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        yield SignedIn(http, profile, store)


def _print_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    from rich.table import Table

    table = Table()
    for column in columns:
        table.add_column(column, no_wrap=column == "Id")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@practice_app.command("list")
def practice_list(as_json: JsonOutput = False) -> None:
    """List your practices and your role in each."""
    with _signed_in() as signed_in:
        rows = signed_in.call("GET", "/practices").json()
    if as_json:
        print_json(rows)
        return
    _print_table(("Id", "Practice", "Role"), [(r["id"], r["name"], r["role"]) for r in rows])


@practice_app.command("create")
def practice_create(
    name: Annotated[str, typer.Argument(help="The practice's name, as its members see it.")],
    as_json: JsonOutput = False,
) -> None:
    """Create a practice; you are its admin."""
    with _signed_in() as signed_in:
        created = signed_in.call("POST", "/practices", json={"name": name}).json()
    print_result(
        as_json, created, f"Created {created['name']}: id {created['id']} (you are its admin)."
    )


@practice_app.command("invite")
def practice_invite(
    email: Annotated[str, typer.Argument(help="The address to invite.")],
    role: Annotated[str, typer.Option("--role", help=" or ".join(ROLES) + ".", metavar="ROLE")],
    practice: PracticeChoice = None,
    as_json: JsonOutput = False,
) -> None:
    """(Admins) Invite someone: the code goes to them by mail only; they give it to
    `uhs register --invitation` or, with an account, to `uhs practice join`."""
    if role not in ROLES:
        raise usage_error(f"--role is one of {', '.join(ROLES)}")
    with _signed_in() as signed_in:
        practice_id = practice_for(signed_in, practice, roles=("admin",))
        invited = signed_in.call(
            "POST", f"/practices/{practice_id}/invitations", json={"email": email, "role": role}
        ).json()
    changes_made.append(f"{invited['email']} was invited")
    print_result(
        as_json,
        invited,
        f"Invited {invited['email']} as {invited['role']}: the code is in their mail, valid "
        f"until {invited['expires_at'][:10]}.",
    )


@practice_app.command("members")
def practice_members(practice: PracticeChoice = None, as_json: JsonOutput = False) -> None:
    """The members of a practice and their roles."""
    with _signed_in() as signed_in:
        practice_id = practice_for(signed_in, practice, roles=ROLES)
        rows = signed_in.call("GET", f"/practices/{practice_id}/members").json()
    if as_json:
        print_json(rows)
        return
    _print_table(
        ("Id", "Name", "Kind", "Role", "Identity"),
        [
            (
                r["account_id"],
                r["display_name"],
                r["kind"],
                r["role"],
                _identity(r),
            )
            for r in rows
        ],
    )


@practice_app.command("notice")
def practice_notice(
    publish_fr: Annotated[
        Path | None,
        typer.Option(
            "--publish",
            help="(Admins) Publish a new version: its French text, from this file.",
            metavar="FILE",
        ),
    ] = None,
    english: Annotated[
        Path | None,
        typer.Option("--english", help="With --publish: its English text.", metavar="FILE"),
    ] = None,
    practice: PracticeChoice = None,
    as_json: JsonOutput = False,
) -> None:
    """The practice's information notice to its patients (how their file is shared
    within the care team); admins publish a new version with --publish. Published
    versions are kept as they were."""
    from uhealthsec.protocol.consent import NoticeOut

    if english is not None and publish_fr is None:
        raise usage_error("--english goes with --publish")
    try:
        texts = {
            key: path.read_text(encoding="utf-8")
            for key, path in (("text_fr", publish_fr), ("text_en", english))
            if path is not None
        }
    except (OSError, UnicodeDecodeError) as exc:
        raise usage_error(f"cannot read the notice's text: {exc}") from None
    if texts:
        from uhealthsec.client.consent import ConsentClient

        with _signed_in() as signed_in:
            practice_id = practice_for(signed_in, practice, roles=("admin",))
        # Through the SDK: a change of the practice's notice is signed (R3).
        with signed_in_client(unlock=False) as client:
            published = ConsentClient(client).publish_notice(
                practice_id, texts["text_fr"], texts.get("text_en")
            )
        changes_made.append("a new version of the practice's notice was published")
        notice = NoticeOut.model_validate(published)
    else:
        with _signed_in() as signed_in:
            practice_id = practice_for(signed_in, practice, roles=ROLES)
            answer = signed_in.call("GET", f"/practices/{practice_id}/notice")
        notice = NoticeOut.model_validate_json(answer.content)
    if as_json:
        print_json(notice.model_dump(mode="json"))
        return
    show_notice(notice)


def _identity(member: dict[str, Any]) -> str:
    if member.get("rpps_proven"):
        return f"RPPS {member['rpps']} (proven)"
    if member.get("identity_verified"):
        return "verified" + (f", RPPS {member['rpps']}" if member.get("rpps") else "")
    return "not verified" if member["kind"] == "practitioner" else ""


@practice_app.command("join")
def practice_join(
    code: Annotated[
        str | None,
        typer.Argument(
            help=(
                "The invitation code from the mail; without it, it is asked (or read from "
                "stdin), out of the arguments other users see and of the shell's history."
            )
        ),
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Accept a practice's invitation with the account signed in here. A patient is
    shown the practice's information notice first (how their file is shared within its
    care team), and the acceptance records that they were given it."""
    if code is None:
        code = ask_code("Invitation code", "the invitation code from the mail")
    code = code.strip()
    with _signed_in() as signed_in:
        acceptance: dict[str, Any] = {"code": code}
        notice = signed_in.auth.invitation_notice(code)
        if notice.for_patient:
            show_notice(notice)
            acceptance["notice_version"] = notice.version
        joined = signed_in.call("POST", "/practices/invitations/accept", json=acceptance).json()
    print_result(
        as_json, joined, f"Joined {joined['name']} as {joined['role']}: id {joined['id']}."
    )


def show_notice(notice: NoticeOut) -> None:
    """The practice's information notice, as the patient reads it before joining."""
    when = f"published {notice.published_at:%Y-%m-%d}" if notice.published_at else "default"
    notices.print(
        f"[bold]Information notice of {shown(notice.practice_name)}[/bold] "
        f"(version {notice.version}, {when}):\n"
    )
    notices.print(shown(notice.text_fr, lines=True))
