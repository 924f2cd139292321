"""Refusals raised by services; the HTTP layer renders them as RFC 9457 problems.

Messages are written for the person using the client: they say what was refused and
what to do, and never echo a secret or reveal whether an account exists.
"""

from __future__ import annotations

#: The problem type of a refusal that a step-up (/auth/step-up) would lift: a client
#: asks for a second factor and retries (PROTOCOL, sign-in values on the wire).
STEP_UP_REQUIRED = "tag:uhealthsec.fr,2026:problem:step-up-required"
#: The problem type of a care-team share refused because the patient was not informed
#: yet (R11, PROTOCOL 21.3): a client offers to record the information.
PATIENT_NOT_INFORMED = "tag:uhealthsec.fr,2026:problem:patient-not-informed"
#: The problem types of an authenticator blocked after 100 failures in a row (R7,
#: PROTOCOL 14 and 16.1): a client says to follow the link mailed to the owner.
PASSWORD_BLOCKED = "tag:uhealthsec.fr,2026:problem:password-blocked"  # noqa: S105 (a type)
FACTORS_BLOCKED = "tag:uhealthsec.fr,2026:problem:factors-blocked"
#: The problem type of a document its patient restricted (R28, PROTOCOL 11.8): a client
#: says that the patient restricted it, not that it failed.
DOCUMENT_RESTRICTED = "tag:uhealthsec.fr,2026:problem:document-restricted"
#: The problem type of a change of health data or sharing sent without the user's
#: signature (R3, PROTOCOL section 13): a client signs it and sends it again.
SIGNATURE_REQUIRED = "tag:uhealthsec.fr,2026:problem:signature-required"


class ServiceError(Exception):
    status = 400
    title = "Bad Request"
    #: The problem's type (RFC 9457): a URI a client can act on, where one is given.
    problem_type = "about:blank"
    #: Commit the request's changes even though it is refused.
    keep_changes = False

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        #: Members added to the problem document (RFC 9457 extension members).
        self.extra = extra


class InvalidInput(ServiceError):
    status = 400
    title = "Invalid input"


class SignatureRequired(InvalidInput):
    """A change of health data or sharing without the user's valid signature (R3)."""

    title = "Signature required"
    problem_type = SIGNATURE_REQUIRED


class NotAuthenticated(ServiceError):
    status = 401
    title = "Authentication required"


class CredentialsRefused(NotAuthenticated):
    """A wrong password (or address): the shield's count of it must be kept."""

    keep_changes = True


class SecondFactorRefused(NotAuthenticated):
    """A wrong or replayed second factor. The failure count it raised must be kept."""

    keep_changes = True


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class PatientNotInformed(Forbidden):
    """Care-team sharing waits until the patient is informed (R11)."""

    title = "Patient not informed"
    problem_type = PATIENT_NOT_INFORMED


class DocumentRestricted(Forbidden):
    """The document's patient restricted it to themselves and its author (R28)."""

    title = "Document restricted by the patient"
    problem_type = DOCUMENT_RESTRICTED


class StepUpRequired(Forbidden):
    """A sensitive action needs a recently proven second factor."""

    title = "Re-authentication required"
    problem_type = STEP_UP_REQUIRED


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class ContentTooLarge(ServiceError):
    status = 413
    title = "Content Too Large"


class TooManyRequests(ServiceError):
    """A budget of the account spent for now; ``Retry-After`` says when it refills."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class Gone(ServiceError):
    status = 410
    title = "Expired"
