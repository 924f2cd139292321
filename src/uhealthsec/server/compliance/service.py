"""The record of processing activities (GDPR art. 30(1), rule R25): the activities the
code declares (processing.py), with the periods and the security measures this
deployment's settings set, as JSON and as Markdown."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from uhealthsec.server.accounts.service import INVITATION_DAYS
from uhealthsec.server.audit.refusals import REFUSAL_LOG_DAYS
from uhealthsec.server.audit.service import NETWORK_RETENTION_DAYS
from uhealthsec.server.compliance.processing import ACTIVITIES, NOT_PERSONAL
from uhealthsec.server.settings import Settings

#: Said where the operator has not filled a setting in: the record is then incomplete.
MISSING = "NOT SET"


def _periods(settings: Settings) -> dict[str, object]:
    smtp = settings.smtp_host or "none: mail is written to files on the server"
    return {
        "refresh_token_days": settings.refresh_token_days,
        "invitation_days": INVITATION_DAYS,
        "network_retention_days": NETWORK_RETENTION_DAYS,
        "refusal_log_days": REFUSAL_LOG_DAYS,
        "mail_keep_days": settings.mail_keep_days,
        "smtp": smtp,
    }


def _database(settings: Settings) -> str:
    scheme = urlsplit(settings.resolved_database_url).scheme.split("+")[0]
    return {"postgresql": "PostgreSQL", "sqlite": "SQLite (one machine)"}.get(scheme, scheme)


def security_measures(settings: Settings) -> list[str]:
    """Art. 30(1)(g): what protects the data, as this deployment is configured."""
    public = settings.public_url or settings.issuer
    tls = urlsplit(public).scheme == "https"
    store = (
        f"an S3 object store ({settings.s3_endpoint_url or 'AWS'}, region {settings.s3_region}, "
        f"bucket {settings.s3_bucket or MISSING})"
        if settings.blob_store == "s3"
        else f"files under {settings.blob_dir}"
    )
    if settings.backup_to and settings.backup_key:
        backups = (
            f"encrypted to the operator's offline recovery key, written to "
            f"{settings.backup_to}, the last {settings.backup_keep} kept"
        )
    else:
        backups = f"{MISSING}: no backup is configured (UHS_BACKUP_TO, UHS_BACKUP_KEY)"
    return [
        "Documents and messages are encrypted and signed on the user's device (hybrid "
        "post-quantum key wrapping, X-Wing; AES-256-GCM); the server holds no key that "
        "opens them.",
        "Each user's private keys are sealed on their device under their password "
        "(Argon2id) and a recovery key; the server stores them sealed.",
        "Passwords follow CNIL deliberation 2022-100, case 2 (a second factor and "
        "throttling): every client of the service refuses, on the user's device, a new "
        "password under 12 characters or 50 bits of entropy by the deliberation's "
        "counting, a leaked one, or one zxcvbn rates guessable; no composition rules "
        "and no forced periodic change (rule R6).",
        "Sign-in needs a password and a second factor (TOTP, passkey or recovery code); "
        "changes to factors need a recent second factor and the account's signature.",
        "Public keys are published in an append-only, verifiable log that clients check.",
        "Every action on health data is journaled in an append-only Merkle log that "
        "clients verify and witnesses cosign.",
        "Password guessing is slowed by proofs of work and per-account and per-network "
        "budgets, without CAPTCHAs or tracking.",
        f"Transport: {'TLS (https)' if tls else MISSING + ': the public address is not https'}"
        f" at {public}.",
        f"Database: {_database(settings)}. Encrypted content: {store}.",
        f"Backups: {backups}.",
    ]


def record_of_processing(settings: Settings, now: datetime) -> dict[str, Any]:
    """The record, as data (what ``--format json`` prints)."""
    periods = _periods(settings)
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "regulation": "GDPR (EU) 2016/679, art. 30(1)",
        "controller": {
            "name": settings.controller_name or MISSING,
            "contact": settings.controller_contact or MISSING,
            "data_protection_officer": settings.dpo_contact or MISSING,
        },
        "activities": [
            {
                "key": activity.key,
                "name": activity.name,
                "purposes": list(activity.purposes),
                "legal_bases": list(activity.legal_bases),
                "data_subjects": list(activity.data_subjects),
                "data_categories": list(activity.data_categories),
                "recipients": [r.format(**periods) for r in activity.recipients],
                "transfers_outside_the_eu": (
                    "none made by the software; the host and the object store are those "
                    "configured below"
                ),
                "retention": [r.format(**periods) for r in activity.retention],
                "tables": sorted(activity.tables),
                "journaled_actions": sorted(activity.actions),
            }
            for activity in ACTIVITIES
        ],
        "security_measures": security_measures(settings),
        "tables_without_personal_data": dict(sorted(NOT_PERSONAL.items())),
    }


def _lines(items: list[str]) -> list[str]:
    return [f"- {item}" for item in items]


def to_markdown(record: dict[str, Any]) -> str:
    controller = record["controller"]
    out = [
        "# Record of processing activities",
        "",
        f"{record['regulation']}. Generated {record['generated_at']} by `uhs-server "
        "processing-record` from the server's code and its settings.",
        "",
        "## Controller",
        "",
        f"- Name and address: {controller['name']}",
        f"- Contact: {controller['contact']}",
        f"- Data protection officer: {controller['data_protection_officer']}",
    ]
    for number, activity in enumerate(record["activities"], 1):
        out += ["", f"## {number}. {activity['name']}", ""]
        for title, key in (
            ("Purposes", "purposes"),
            ("Legal bases", "legal_bases"),
            ("People concerned", "data_subjects"),
            ("Data", "data_categories"),
            ("Recipients", "recipients"),
            ("Retention", "retention"),
        ):
            out += [f"**{title}**", "", *_lines(activity[key]), ""]
        out += [
            f"**Transfers outside the EU**: {activity['transfers_outside_the_eu']}.",
            "",
            f"Tables: {', '.join(f'`{t}`' for t in activity['tables'])}.",
        ]
    out += ["", "## Security measures (art. 32)", "", *_lines(record["security_measures"])]
    out += ["", "## Tables without personal data", ""]
    plain = record["tables_without_personal_data"]
    out += _lines([f"`{name}`: {why}" for name, why in plain.items()])
    return "\n".join(out) + "\n"
