"""Wire models of consent directives (CSP L1110-4, GDPR art. 7) and patient rights
requests (GDPR art. 15-21, CSP L1111-7), with the values they take."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from uhealthsec.protocol.strict import Strict


class Purpose(StrEnum):
    #: Sharing among the professionals of the practice that holds the file: allowed
    #: once the patient is informed, unless they object (L1110-4 III, first paragraph).
    CARE_TEAM = "care_team"
    #: Sharing with professionals outside that team: needs the patient's prior consent
    #: (L1110-4 III, second paragraph).
    OUTSIDE_TEAM = "outside_team"
    #: Use for one research study the practice declared: explicit, specific, revocable
    #: consent (GDPR art. 7, 9(2)(a)); a research directive always names its study.
    RESEARCH = "research"


class Decision(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class Right(StrEnum):
    """What a patient asks of a practice (GDPR art. 15-21; CSP L1111-7)."""

    ACCESS = "access"  # art. 15
    RECTIFICATION = "rectification"  # art. 16
    ERASURE = "erasure"  # art. 17
    RESTRICTION = "restriction"  # art. 18
    PORTABILITY = "portability"  # art. 20
    OBJECTION = "objection"  # art. 21
    #: Communication of the medical file (CSP L1111-7, R1111-1).
    MEDICAL_FILE = "medical_file"


class RequestStatus(StrEnum):
    PENDING = "pending"
    #: The deadline was extended, with the reasons given to the patient.
    EXTENDED = "extended"
    DONE = "done"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class Methodology(StrEnum):
    """The CNIL framework a study's processing follows: one of its reference
    methodologies (MR-001 to MR-006), or an authorisation the CNIL gave it by number."""

    MR_001 = "MR-001"
    MR_002 = "MR-002"
    MR_003 = "MR-003"
    MR_004 = "MR-004"
    MR_005 = "MR-005"
    MR_006 = "MR-006"
    CNIL_AUTHORISATION = "cnil-authorisation"


class StudyState(StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    ENDED = "ended"
    CLOSED = "closed"


class DirectiveIn(Strict):
    practice_id: uuid.UUID
    purpose: Purpose
    decision: Decision
    #: One professional; leave out for everyone the purpose covers.
    recipient_email: Annotated[str | None, Field(min_length=3, max_length=320)] = None
    #: The study of the practice a research directive is about (required for research,
    #: refused for the other purposes).
    study_id: uuid.UUID | None = None


StudyTitle = Annotated[str, Field(min_length=3, max_length=200)]


class StudyIn(Strict):
    title: StudyTitle
    #: Who runs the study and answers for it (a hospital, a university, a company).
    sponsor: Annotated[str, Field(min_length=2, max_length=200)]
    #: What the study seeks, in words a patient understands.
    purpose: Annotated[str, Field(min_length=10, max_length=2000)]
    methodology: Methodology
    #: The CNIL's authorisation number; only with ``cnil-authorisation``.
    authorisation: Annotated[str | None, Field(min_length=1, max_length=40)] = None
    starts_on: date
    #: The last day of the study; or give ``duration_months`` instead.
    ends_on: date | None = None
    duration_months: Annotated[int | None, Field(ge=1, le=240)] = None


class StudyOut(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    title: str
    sponsor: str
    purpose: str
    methodology: Methodology
    authorisation: str | None
    starts_on: date
    ends_on: date
    declared_at: datetime
    closed_at: datetime | None
    state: StudyState
    #: Patients who consent now (members who may read the practice's records only).
    consenting: int | None = None
    #: The reader's own decision in force (patients only; null when they gave none).
    my_decision: Decision | None = None


class DirectiveOut(BaseModel):
    id: uuid.UUID
    version: int
    practice_id: uuid.UUID
    purpose: Purpose
    decision: Decision
    recipient_id: uuid.UUID | None
    recipient_name: str | None
    recipient_email: str | None
    study_id: uuid.UUID | None = None
    study_title: str | None = None
    created_at: datetime
    #: When a later version replaced it; null while in force.
    superseded_at: datetime | None


# -- the information notice (CSP L1110-4 III, R11) ---------------------------------------

#: The longest notice text, in characters: a page or two a patient reads on a phone.
MAX_NOTICE_CHARS = 8000
#: The version of the notice the software ships; a practice's own versions are 1, 2…
DEFAULT_NOTICE_VERSION = 0

NoticeText = Annotated[str, Field(min_length=100, max_length=MAX_NOTICE_CHARS)]
NoticeVersion = Annotated[int, Field(ge=0, le=1_000_000)]


class InformedHow(StrEnum):
    #: The patient's client showed the notice before they accepted the invitation.
    INVITATION = "invitation"
    #: A practitioner of the practice gave it in person at first care.
    IN_PERSON = "in_person"


class NoticeIn(Strict):
    """A practice's own version of its notice: French required, English optional."""

    text_fr: NoticeText
    text_en: NoticeText | None = None


class NoticeOut(BaseModel):
    practice_id: uuid.UUID
    practice_name: str
    #: 0 for the notice the software ships; the practice's own versions from 1.
    version: int
    text_fr: str
    #: English text when the version has one (the shipped notice has).
    text_en: str | None
    #: When the practice published it; null for the shipped notice.
    published_at: datetime | None
    #: From POST /invitations/notice only: whether the invitation is a
    #: patient's, whose acceptance names this version; a staff invitation names none.
    for_patient: bool | None = None


class InformationIn(Strict):
    """A practitioner records that they informed the patient in person at first care."""

    #: The day the patient was informed (French time): not in the future, not before
    #: the file was opened.
    informed_on: date
    #: The version they gave; the practice's current one when left out.
    notice_version: NoticeVersion | None = None


class InformationOut(BaseModel):
    practice_id: uuid.UUID
    notice_version: int
    informed_on: date
    how: InformedHow
    #: Who recorded it: the patient themselves (invitation) or the practitioner.
    recorded_by_name: str
    recorded_at: datetime
    #: The version given, with its text.
    notice: NoticeOut


class InvitationAcceptIn(Strict):
    code: Annotated[str, Field(min_length=16, max_length=100)]
    #: The version of the practice's notice the patient's client showed (patient
    #: invitations): the acceptance records that the patient was informed of it.
    notice_version: NoticeVersion | None = None


class DirectiveRecordedOut(BaseModel):
    directive: DirectiveOut
    #: Shares ended at once because the directive no longer allows them.
    shares_ended: int


class RightsRequestIn(Strict):
    practice_id: uuid.UUID
    right: Right


class ReasonIn(Strict):
    #: Told to the patient; never health data.
    reason: Annotated[str, Field(min_length=10, max_length=1000)]


class NoteIn(Strict):
    note: Annotated[str | None, Field(max_length=1000)] = None


class ErasureCategory(StrEnum):
    """What an erasure answer speaks of, one line per category (and per practice for
    what a practice's file holds)."""

    DOCUMENTS = "documents"
    #: Conversations with the patient and their messages.
    CONVERSATIONS = "conversations"
    CONSENTS = "consents"
    #: The dates a file's retention depends on (birth, death, last care, claims).
    RETENTION_FACTS = "retention-facts"
    RIGHTS_REQUESTS = "rights-requests"
    #: Name and e-mail address.
    IDENTITY = "identity"
    #: Password, keystore, sessions and tokens, second factors, memberships.
    SIGN_IN = "sign-in"
    #: Document and message keys wrapped for the patient.
    KEYS = "keys"
    #: The key directory's entries (address and public keys), recorded as revoked.
    KEY_DIRECTORY = "key-directory"
    #: The journal of accesses (pseudonymous: it names the account by its id only).
    JOURNAL = "journal"


class ErasureOutcome(StrEnum):
    ERASED = "erased"
    KEPT = "kept"


class KeptBasis(StrEnum):
    """Why something is kept: each value names its legal ground (docs/PROTOCOL.md)."""

    #: GDPR art. 17(3)(b) and (c): the medical file's retention (CSP R1112-7, R15).
    MEDICAL_FILE = "medical-file-retention"
    #: GDPR art. 17(3)(b), 5(2) and 32: the journal of accesses is kept as long as the
    #: data it concerns and is never rewritten (R14).
    JOURNAL = "journal"
    #: GDPR art. 17(3)(b) and 32: the key directory is an append-only, verifiable log;
    #: its entries stay, recorded as revoked, so that signatures stay verifiable.
    KEY_DIRECTORY = "key-directory"
    #: Not asked: an erasure request to one practice leaves the account, which its
    #: owner deletes themselves (DELETE /account).
    ACCOUNT_IN_USE = "account-in-use"


class ErasureItem(BaseModel):
    """One line of an erasure answer: a category, erased or kept, why and until when."""

    category: ErasureCategory
    #: The practice whose file holds it; null for what belongs to the account.
    practice_id: uuid.UUID | None
    outcome: ErasureOutcome
    #: How many rows it covers, when counting means something.
    count: int | None = None
    #: Null when erased.
    basis: KeptBasis | None = None
    #: The last day it is kept (the retention job erases it the day after); null when
    #: erased, or when the end is not known yet (explained in ``reason``).
    kept_until: date | None = None
    #: The same in words (English), for command-line users.
    reason: str


class AccountDeletionIn(Strict):
    """The patient's confirmation: the exact words, so that no replayed or forged
    body without them deletes an account."""

    confirm: Annotated[str, Field(pattern="^delete my account$")]


class AccountDeletionOut(BaseModel):
    """What deleting the account erases and keeps (a preview, or what was done)."""

    account_id: uuid.UUID
    #: When it was deleted; null in a preview.
    deleted_at: datetime | None
    items: list[ErasureItem]


class RightsRequestOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    patient_email: str
    practice_id: uuid.UUID
    patient_file_id: uuid.UUID
    right: Right
    #: The article that gives the right and sets the deadline.
    citation: str
    status: RequestStatus
    received_at: datetime
    earliest_at: datetime | None
    due_at: datetime
    overdue: bool
    extended_at: datetime | None
    reason: str | None
    handled_at: datetime | None
    erasure_from: date | None
    lifted_at: datetime | None
    #: An erasure's answer, per category (null for other rights, and for erasures
    #: handled before the itemised answer).
    erasure: list[ErasureItem] | None = None
