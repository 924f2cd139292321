"""The compliance dashboard of a practice (issue 25, item 5). No HTTP here.

An independent practitioner has no DPO: the practice's admin sees here, and shows an
inspector, where the practice stands. Every line is computed at the moment it is asked
from the tables that decide it (factors, rights requests, directives, retention, the
journal, the breach register, the backups' location, the settings): nothing is copied
into a table of its own that could drift from what it summarises.

Each line has a status (ok, "à surveiller", "en retard") and the written rule that
gave it, in French: what the admin reads and what the PDF report shows an inspector.

Who: the practice's admins; the operators the settings list (``UHS_INCIDENT_OPERATORS``,
as for the breach register) see every practice. Anyone else is answered as if the
practice did not exist. Members are named (those without a second factor); patients
are only counted.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.journal import NOBODY, JournalEntry, Outcome
from uhealthsec.protocol.consent import StudyState
from uhealthsec.server.accounts.models import Account, Membership, Practice, Role
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.audit.models import Cosignature, JournalRecord, JournalWitness
from uhealthsec.server.audit.writer import PendingEntry
from uhealthsec.server.auth.models import TotpCredential, WebAuthnCredential
from uhealthsec.server.backup import BackupRefused, location_for
from uhealthsec.server.backup_locations import BACKUP_NAME, LocationRefused
from uhealthsec.server.consent.models import (
    OPEN_STATUSES,
    ConsentDirective,
    ResearchStudy,
    RightsRequest,
)
from uhealthsec.server.consent.service import paris_today, study_state
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import InvalidInput, NotFound
from uhealthsec.server.incidents.anomalies.models import AnomalyAlert
from uhealthsec.server.incidents.anomalies.rules import PARIS
from uhealthsec.server.incidents.anomalies.service import OPEN as OPEN_ALERT
from uhealthsec.server.incidents.models import Incident, IncidentNotification
from uhealthsec.server.incidents.service import DEADLINE, Clock, clock_state
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.records.models import PatientFile
from uhealthsec.server.retention.service import DUE_BATCH, RetentionService
from uhealthsec.server.storage.merkle_log import JOURNAL_LOG, CheckpointRecord

logger = logging.getLogger(__name__)

#: Retention purges shown ahead of time.
PURGE_HORIZON = timedelta(days=90)
#: A rights request due within this is "à surveiller".
RIGHTS_DUE_SOON = timedelta(days=7)
#: Backups are daily: older than WATCH "à surveiller", older than LATE "en retard".
BACKUP_WATCH = timedelta(hours=26)
BACKUP_LATE = timedelta(hours=48)
#: A restore drill at least once a year.
DRILL_LATE = timedelta(days=365)
#: The journal's newest checkpoint not cosigned by a witness for this long: "à surveiller".
WITNESS_LAG = timedelta(hours=24)
#: What ``uhs-server restore-drill`` journals once a restore was tried and checked.
RESTORE_DRILL_ACTION = "backup.restore_drill"
#: The operator view lists this many practices per page at most.
MAX_PAGE = 100
NO_PRACTICE = "no such practice"


class Status(StrEnum):
    OK = "ok"
    WATCH = "watch"
    LATE = "late"


#: How a status reads, in the dashboard and the report.
STATUS_LABELS = {Status.OK: "conforme", Status.WATCH: "à surveiller", Status.LATE: "en retard"}


@dataclass(frozen=True)
class Item:
    """One line of the dashboard: what it is about, its status, the rule that gave the
    status, a summary and details in French, and the numbers it was computed from."""

    key: str
    title: str
    status: Status
    summary: str
    rule: str
    details: list[str] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Dashboard:
    practice_id: uuid.UUID
    practice_name: str
    generated_at: datetime
    items: list[Item]

    @property
    def status(self) -> Status:
        """The worst of its lines."""
        order = [Status.OK, Status.WATCH, Status.LATE]
        return max((i.status for i in self.items), key=order.index, default=Status.OK)


#: How the patients' rights are named in French (protocol/consent.py Right).
RIGHTS = {
    "access": "accès",
    "rectification": "rectification",
    "erasure": "effacement",
    "restriction": "limitation",
    "portability": "portabilité",
    "objection": "opposition",
    "medical_file": "communication du dossier médical",
}


def _when(moment: datetime) -> str:
    """In France's time, where the practice and its inspector are."""
    return moment.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M (heure de Paris)")


def _left(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    return f"{minutes // 60} h {minutes % 60:02d}"


def _day(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _age(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 48:
        return f"{max(hours, 0)} h"
    return f"{hours // 24} jours"


def _worst(*statuses: Status) -> Status:
    order = [Status.OK, Status.WATCH, Status.LATE]
    return max(statuses, key=order.index, default=Status.OK)


class ComplianceService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- who ------------------------------------------------------------------------------

    def is_operator(self, account: Account) -> bool:
        listed = {m.strip().lower() for m in self.ctx.settings.incident_operators}
        return account.email.lower() in listed

    def _require_viewer(self, caller: Account, practice_id: uuid.UUID) -> Practice:
        practice = self.db.get(Practice, practice_id)
        if practice is None or not (
            self.is_operator(caller)
            or AccountService(self.db, self.ctx).is_admin(caller.id, practice_id)
        ):
            # A member who is not admin, another practice's admin, a patient: the
            # answer to a practice that does not exist.
            raise NotFound(NO_PRACTICE)
        current_draft().about_practice(practice_id)
        return practice

    # -- the dashboards -------------------------------------------------------------------

    def dashboard(self, caller: Account, practice_id: uuid.UUID) -> Dashboard:
        return self._dashboard(self._require_viewer(caller, practice_id))

    def all_practices(
        self, caller: Account, after: uuid.UUID | None, limit: int
    ) -> list[Dashboard]:
        """The operator view: every practice's dashboard, by id, ``limit`` after ``after``."""
        if not self.is_operator(caller):
            raise NotFound("no such page")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"ask for 1 to {MAX_PAGE} practices at a time")
        query = select(Practice).order_by(Practice.id).limit(limit)
        if after is not None:
            query = query.where(Practice.id > after)
        practices = list(self.db.scalars(query))
        for practice in practices:
            current_draft().about_practice(practice.id)
        # The server's own lines are the same for every practice: read once (the
        # backups' location may be a bucket, listed over the network).
        shared = self._server_lines(self.ctx.now())
        return [self._dashboard(p, shared) for p in practices]

    def _dashboard(self, practice: Practice, shared: list[Item] | None = None) -> Dashboard:
        now = self.ctx.now()
        items = [
            *self._factors(practice.id),
            self._rights(practice.id, now),
            self._consents(practice.id),
            self._retention(practice.id),
            self._incidents(practice.id, now),
            *(shared if shared is not None else self._server_lines(now)),
        ]
        return Dashboard(practice.id, practice.name, now, items)

    def _server_lines(self, now: datetime) -> list[Item]:
        """The lines about the server every practice shares."""
        return [self._journal(now), self._backups(now), self._restore_drill(now), self._transport()]

    # -- members' second factors ----------------------------------------------------------

    def _factors(self, practice_id: uuid.UUID) -> list[Item]:
        has_totp = exists().where(
            TotpCredential.account_id == Account.id, TotpCredential.confirmed_at.is_not(None)
        )
        has_passkey = exists().where(WebAuthnCredential.account_id == Account.id)
        rows = self.db.execute(
            select(Account.display_name, Account.email, Membership.role, has_totp, has_passkey)
            .join(Membership, Membership.account_id == Account.id)
            .where(Membership.practice_id == practice_id, Membership.role != Role.PATIENT)
            .order_by(Account.display_name, Account.email)
        ).all()
        members = len(rows)
        without = [
            (name, email, role) for name, email, role, totp, key in rows if not (totp or key)
        ]
        passkeys = sum(1 for *_, key in rows if key)
        covered = members - len(without)
        factor = Item(
            key="second_factors",
            title="Second facteur des membres",
            status=Status.WATCH if without else Status.OK,
            summary=f"{covered} membre(s) sur {members} ont un second facteur"
            + (f" ; {len(without)} n'en ont pas" if without else ""),
            rule="Chaque membre du cabinet (hors patients) doit avoir un second facteur "
            "(application TOTP ou clé d'accès), délibération CNIL 2022-100. Un membre sans "
            "second facteur = à surveiller : le serveur lui en fait enrôler un à sa "
            "prochaine connexion et ne lui ouvre rien avant.",
            details=[f"Sans second facteur : {n} <{e}> ({r})" for n, e, r in without],
            facts={
                "members": members,
                "with_second_factor": covered,
                "without_second_factor": len(without),
                "members_without": [
                    {"display_name": n, "email": e, "role": r} for n, e, r in without
                ],
            },
        )
        share = round(100 * passkeys / members) if members else 0
        passkey = Item(
            key="passkeys",
            title="Clés d'accès (passkeys)",
            status=Status.OK if passkeys == members else Status.WATCH,
            summary=f"{passkeys} membre(s) sur {members} ont une clé d'accès ({share} %)",
            rule="Une clé d'accès résiste à l'hameçonnage, un code TOTP non. Recommandée, "
            "non exigée : tous les membres en ont une = conforme, sinon à surveiller.",
            facts={"members": members, "with_passkey": passkeys, "share_percent": share},
        )
        return [factor, passkey]

    # -- patients' rights requests --------------------------------------------------------

    def _rights(self, practice_id: uuid.UUID, now: datetime) -> Item:
        requests = list(
            self.db.scalars(
                select(RightsRequest)
                .where(
                    RightsRequest.practice_id == practice_id,
                    RightsRequest.status.in_(OPEN_STATUSES),
                )
                .order_by(RightsRequest.due_at, RightsRequest.id)
            )
        )
        late = [r for r in requests if now > r.due_at]
        soon = [r for r in requests if r.due_at >= now and r.due_at - now <= RIGHTS_DUE_SOON]
        status = Status.LATE if late else Status.WATCH if soon else Status.OK
        details = [
            f"Demande « {RIGHTS.get(r.right, r.right)} » reçue le {_when(r.received_at)}, "
            f"échéance légale le {_when(r.due_at)}" + (" : EN RETARD" if now > r.due_at else "")
            for r in requests
        ]
        return Item(
            key="rights_requests",
            title="Demandes d'exercice des droits des patients",
            status=status,
            summary=f"{len(requests)} demande(s) ouverte(s), dont {len(late)} en retard",
            rule="Le cabinet répond dans le délai légal (RGPD art. 12(3) : un mois, "
            "prolongeable de deux ; CSP L1111-7 pour le dossier médical). Une demande "
            "ouverte après son échéance = en retard ; à moins de 7 jours de son "
            "échéance = à surveiller.",
            details=details,
            facts={
                "open": len(requests),
                "late": len(late),
                "due_within_7_days": len(soon),
                "requests": [
                    {
                        "id": str(r.id),
                        "right": r.right,
                        "status": r.status,
                        "received_at": r.received_at.isoformat(),
                        "due_at": r.due_at.isoformat(),
                        "late": now > r.due_at,
                    }
                    for r in requests
                ],
            },
        )

    # -- consents and studies -------------------------------------------------------------

    def _consents(self, practice_id: uuid.UUID) -> Item:
        counts = Counter(
            f"{purpose}:{decision}"
            for purpose, decision in self.db.execute(
                select(ConsentDirective.purpose, ConsentDirective.decision).where(
                    ConsentDirective.practice_id == practice_id,
                    ConsentDirective.superseded_at.is_(None),
                )
            )
        )
        today = paris_today(self.ctx)
        states = Counter(
            study_state(s, today)
            for s in self.db.scalars(
                select(ResearchStudy).where(ResearchStudy.practice_id == practice_id)
            )
        )
        ended = states[StudyState.ENDED]
        labels = {
            "care_team": "équipe de soins",
            "outside_team": "hors équipe de soins",
            "research": "recherche",
        }
        details = []
        for kind, n in sorted(counts.items()):
            purpose, decision = kind.split(":", 1)
            said = "accord" if decision == "permit" else "refus"
            details.append(f"{labels.get(purpose, purpose)} ({said}) : {n}")
        return Item(
            key="consents",
            title="Consentements et études de recherche",
            status=Status.WATCH if ended else Status.OK,
            summary=f"{sum(counts.values())} directive(s) en vigueur ; "
            f"{states[StudyState.OPEN]} étude(s) ouverte(s)",
            rule="Les directives des patients en vigueur, par finalité et décision (CSP "
            "L1110-4, RGPD art. 7) : un décompte, sans échéance. Une étude arrivée à sa "
            "date de fin et pas encore close = à surveiller.",
            details=details + ([f"{ended} étude(s) terminée(s) à clore"] if ended else []),
            facts={
                "directives": dict(sorted(counts.items())),
                "studies": {state.value: states[state] for state in StudyState},
            },
        )

    # -- retention ------------------------------------------------------------------------

    def _retention(self, practice_id: uuid.UUID) -> Item:
        retention = RetentionService(self.db, self.ctx)
        today = retention.today()
        horizon = today + PURGE_HORIZON
        dates: Counter[date] = Counter()
        after: uuid.UUID | None = None
        while True:
            query = (
                select(PatientFile)
                .where(PatientFile.practice_id == practice_id)
                .order_by(PatientFile.id)
                .limit(DUE_BATCH)
            )
            if after is not None:
                query = query.where(PatientFile.id > after)
            files = list(self.db.scalars(query))
            if not files:
                break
            after = files[-1].id
            for held in retention.statuses(files).values():
                start = held.destroyable_from
                if held.holds_data and start is not None and start <= horizon:
                    dates[start] += 1
        overdue = sum(n for day, n in dates.items() if day <= today)
        upcoming = sum(dates.values()) - overdue
        status = Status.LATE if overdue else Status.WATCH if upcoming else Status.OK
        return Item(
            key="retention",
            title="Purges de fin de conservation (90 prochains jours)",
            status=status,
            summary=f"{upcoming} dossier(s) à détruire dans les 90 jours"
            + (f" ; {overdue} dont la destruction est échue" if overdue else ""),
            rule="Un dossier est détruit à la fin de sa durée de conservation (CSP "
            "R1112-7) par la purge quotidienne. Une destruction échue et pas faite = en "
            "retard (la purge n'a pas tourné) ; une destruction prévue dans les 90 jours "
            "= à surveiller (vérifier les dates saisies avant qu'elle ait lieu).",
            details=[f"{_day(day)} : {n} dossier(s)" for day, n in sorted(dates.items())],
            facts={
                "due_within_90_days": upcoming,
                "overdue": overdue,
                "dates": {day.isoformat(): n for day, n in sorted(dates.items())},
            },
        )

    # -- anomaly alerts and incidents -----------------------------------------------------

    def _incidents(self, practice_id: uuid.UUID, now: datetime) -> Item:
        alerts = (
            self.db.scalar(
                select(func.count())
                .select_from(AnomalyAlert)
                .where(AnomalyAlert.practice_id == practice_id, AnomalyAlert.status == OPEN_ALERT)
            )
            or 0
        )
        first = (
            select(func.min(IncidentNotification.made_at))
            .where(IncidentNotification.incident_id == Incident.id)
            .scalar_subquery()
        )
        rows = self.db.execute(
            select(Incident, first)
            .where(Incident.practice_id == practice_id)
            .order_by(Incident.aware_at, Incident.id)
        ).all()
        running = []
        for incident, notified in rows:
            clock = clock_state(incident, notified, now)
            if clock in (Clock.ON_TIME, Clock.DUE_SOON, Clock.LATE):
                running.append((incident, clock))
        late = [i for i, c in running if c == Clock.LATE]
        status = Status.LATE if late else Status.WATCH if running or alerts else Status.OK
        details = []
        for incident, clock in running:
            left = incident.aware_at + DEADLINE - now
            clock_text = (
                f"EN RETARD de {_left(left)}" if clock == Clock.LATE else f"{_left(left)} restantes"
            )
            details.append(
                f"Incident connu le {_when(incident.aware_at)} : notification à la CNIL "
                f"avant le {_when(incident.aware_at + DEADLINE)}, {clock_text}"
            )
        if alerts:
            details.append(f"{alerts} alerte(s) d'anomalie à examiner")
        return Item(
            key="incidents",
            title="Alertes et violations de données (horloge de 72 h)",
            status=status,
            summary=f"{alerts} alerte(s) ouverte(s) ; {len(running)} violation(s) en attente "
            f"de notification, dont {len(late)} en retard",
            rule="Une violation est notifiée à la CNIL dans les 72 heures après en avoir "
            "eu connaissance (RGPD art. 33(1)), ou décidée non notifiable avec sa raison. "
            "Au-delà de 72 h sans l'un ni l'autre = en retard ; une violation dans son "
            "délai ou une alerte d'anomalie non examinée = à surveiller.",
            details=details,
            facts={
                "open_alerts": alerts,
                "incidents_awaiting_notification": len(running),
                "late": len(late),
                "incidents": [
                    {
                        "id": str(i.id),
                        "aware_at": i.aware_at.isoformat(),
                        "deadline": (i.aware_at + DEADLINE).isoformat(),
                        "hours_left": round(
                            (i.aware_at + DEADLINE - now).total_seconds() / 3600, 1
                        ),
                        "clock": c.value,
                    }
                    for i, c in running
                ],
            },
        )

    # -- the journal ----------------------------------------------------------------------

    def _journal(self, now: datetime) -> Item:
        newest = self.db.scalar(
            select(CheckpointRecord)
            .where(CheckpointRecord.log == JOURNAL_LOG)
            .order_by(CheckpointRecord.size.desc())
            .limit(1)
        )
        witnesses = self.db.scalar(select(func.count()).select_from(JournalWitness)) or 0
        cosigned = self.db.execute(
            select(Cosignature.size, func.max(Cosignature.received_at), func.count())
            .join(JournalWitness, JournalWitness.witness_key == Cosignature.witness_key)
            .where(Cosignature.timestamp.is_not(None))
            .group_by(Cosignature.size)
            .order_by(Cosignature.size.desc())
            .limit(1)
        ).first()
        signed_at = (
            datetime.fromtimestamp(newest.signed_at_ms / 1000, UTC) if newest is not None else None
        )
        details = []
        if newest is not None and signed_at is not None:
            details.append(
                f"Dernier point de contrôle : {newest.size} entrées, signé le {_when(signed_at)}"
            )
        if cosigned is not None:
            details.append(
                f"Dernier point cosigné par {cosigned[2]} témoin(s) : {cosigned[0]} entrées, "
                f"cosigné le {_when(cosigned[1])}"
            )
        lagging = (
            newest is not None
            and signed_at is not None
            and (cosigned is None or cosigned[0] < newest.size)
            and now - signed_at > WITNESS_LAG
            and (cosigned is None or now - cosigned[1] > WITNESS_LAG)
        )
        status = Status.WATCH if witnesses == 0 or lagging else Status.OK
        details.append(
            "Vérification : chaque appareil vérifie les preuves du journal qu'il reçoit ; le "
            "serveur n'enregistre pas ces vérifications, il n'en montre donc aucune ici."
        )
        return Item(
            key="journal",
            title="Journal des accès et témoins",
            status=status,
            summary=(
                f"{newest.size if newest else 0} entrées ; {witnesses} témoin(s) inscrit(s)"
                + (f", dernier point cosigné : {cosigned[0]} entrées" if cosigned else "")
            ),
            rule="Le journal est un arbre de Merkle en ajout seul, que les appareils "
            "vérifient et que des témoins indépendants cosignent. Aucun témoin inscrit, ou "
            "des entrées non cosignées depuis plus de 24 h = à surveiller.",
            details=details,
            facts={
                "size": newest.size if newest else 0,
                "signed_at": signed_at.isoformat() if signed_at else None,
                "witnesses": witnesses,
                "cosigned_size": cosigned[0] if cosigned else None,
                "cosigned_at": cosigned[1].isoformat() if cosigned else None,
                "cosignatures": cosigned[2] if cosigned else 0,
                "verifications_recorded": False,
            },
        )

    # -- backups and restore drill --------------------------------------------------------

    def _backups(self, now: datetime) -> Item:
        rule = (
            "Une sauvegarde chiffrée au moins par jour (uhs-server backup). Aucune "
            "sauvegarde, ou la dernière il y a plus de 48 h = en retard ; plus de 26 h = à "
            "surveiller."
        )
        where = self.ctx.settings.backup_to
        names: list[str] = []
        error = None
        if where:
            try:
                names = location_for(self.ctx.settings, where).backups()
            except (OSError, LocationRefused, BackupRefused, BotoCoreError, ClientError) as exc:
                logger.warning("the backups' location could not be listed: %s", type(exc).__name__)
                error = "l'emplacement des sauvegardes n'a pas pu être lu"
        last = max((s for s in map(_stamp, names) if s is not None), default=None)
        if last is None:
            status = Status.LATE
            summary = "jamais" if error is None else f"inconnue : {error}"
        else:
            age = now - last
            status = (
                Status.LATE
                if age > BACKUP_LATE
                else Status.WATCH
                if age > BACKUP_WATCH
                else Status.OK
            )
            summary = f"dernière sauvegarde le {_when(last)} (il y a {_age(age)})"
        return Item(
            key="backup",
            title="Dernière sauvegarde",
            status=status,
            summary=summary,
            rule=rule,
            details=[
                f"Emplacement : {where}"
                if where
                else "Aucun emplacement configuré (UHS_BACKUP_TO)",
                f"{len(names)} sauvegarde(s) complète(s) conservée(s)",
            ],
            facts={
                "configured": bool(where),
                "last_backup_at": last.isoformat() if last else None,
                "backups_kept": len(names),
                "readable": error is None,
            },
        )

    def _restore_drill(self, now: datetime) -> Item:
        last = self.db.scalar(
            select(func.max(JournalRecord.created_at)).where(
                JournalRecord.action == RESTORE_DRILL_ACTION
            )
        )
        if last is None:
            status, summary = Status.LATE, "jamais"
        else:
            status = Status.LATE if now - last > DRILL_LATE else Status.OK
            summary = f"dernier exercice le {_when(last)} (il y a {_age(now - last)})"
        return Item(
            key="restore_drill",
            title="Dernier exercice de restauration",
            status=status,
            summary=summary,
            rule="Une sauvegarde n'est sûre que si on a essayé de la restaurer : un exercice "
            "au moins par an (uhs-server restore-drill, qui ouvre la sauvegarde, vérifie et "
            "déchiffre chacune de ses parties et l'inscrit au journal ; uhs-server restore "
            "sur un serveur vide pour l'essai complet). Jamais, ou plus d'un an = en retard.",
            facts={"last_drill_at": last.isoformat() if last else None},
        )

    # -- transport ------------------------------------------------------------------------

    def _transport(self) -> Item:
        settings = self.ctx.settings
        public = settings.public_url or settings.issuer
        https = urlsplit(settings.issuer).scheme == "https"
        proxies = [p for p in settings.trusted_proxies if p.strip() not in ("127.0.0.1", "::1")]
        details = [
            f"Adresse publique : {public}",
            "HSTS (Strict-Transport-Security, 2 ans) : envoyé par le serveur sur chaque réponse"
            if https
            else "HSTS : non envoyé (l'adresse publique n'est pas https)",
            "Le TLS est terminé par le mandataire inverse (nginx) placé devant le serveur, "
            "comme le déploiement le prévoit : le serveur ne voit donc ni le certificat, ni "
            "sa date d'expiration, ni les versions de TLS acceptées. Les vérifier avec "
            "l'outil de l'hébergeur (ou testssl.sh).",
        ]
        if proxies:
            details.append(f"Mandataires de confiance : {', '.join(proxies)}")
        return Item(
            key="transport",
            title="Chiffrement du transport (TLS, HSTS)",
            status=Status.OK if https else Status.LATE,
            summary="https, HSTS envoyé" if https else "adresse publique non https",
            rule="Les échanges passent par https et le serveur demande HSTS aux navigateurs "
            "(RGPD art. 32). Une adresse publique non https = en retard. Ce que le serveur "
            "ne peut pas savoir (certificat, versions TLS) est dit, pas supposé.",
            details=details,
            facts={"public_url": public, "https": https, "hsts": https},
        )


def drill_entry(ctx: AppContext) -> PendingEntry:
    """The journal entry of a restore drill (``uhs-server restore-drill``): what the
    dashboard's "last restore drill" reads. About the server, no practice or patient."""
    entry = JournalEntry(
        timestamp_ms=int(ctx.now().timestamp() * 1000),
        actor=NOBODY,
        action=RESTORE_DRILL_ACTION,
        outcome=Outcome.DONE,
        status=200,
        client="uhs-server",
    )
    return PendingEntry(entry)


def _stamp(name: str) -> datetime | None:
    """When a backup was made, from its name (``uhs-backup-YYYYmmddTHHMMSSZ``)."""
    if not BACKUP_NAME.match(name):
        return None
    try:
        return datetime.strptime(name.rsplit("-", 1)[-1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def dashboards_status(dashboards: Sequence[Dashboard]) -> Status:
    return _worst(*(d.status for d in dashboards))
