"""The patient's consent directives (CSP L1110-4, GDPR art. 7), and the research
studies of a practice each research consent names (GDPR art. 9(2)(a)), over an
ExchangeClient.

Answers are checked against the protocol's models (client/wire.py) and returned as
JSON, for the command line that prints them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx2

from uhealthsec.client.exchange import ExchangeClient, ExchangeRefused
from uhealthsec.client.wire import body, parse
from uhealthsec.protocol.consent import (
    Decision,
    DirectiveIn,
    DirectiveOut,
    DirectiveRecordedOut,
    InformationIn,
    InformationOut,
    Methodology,
    NoticeIn,
    NoticeOut,
    Purpose,
    StudyIn,
    StudyOut,
)


class ConsentClient:
    def __init__(self, exchange: ExchangeClient) -> None:
        self.exchange = exchange

    def decide(
        self,
        practice_id: uuid.UUID | str,
        purpose: str,
        decision: str,
        recipient_email: str | None = None,
        study_id: uuid.UUID | str | None = None,
    ) -> dict[str, Any]:
        """Record a directive (patients): ``purpose`` is care_team, outside_team or
        research (with the ``study_id`` it is about); ``decision`` permit or deny.
        Returns it with the shares it ended."""
        request = DirectiveIn(
            practice_id=uuid.UUID(str(practice_id)),
            purpose=Purpose(purpose),
            decision=Decision(decision),
            recipient_email=recipient_email,
            study_id=uuid.UUID(str(study_id)) if study_id is not None else None,
        )
        answer = self.exchange.call("POST", "/consents", json=body(request))
        return parse(DirectiveRecordedOut, answer, ExchangeRefused, "a directive").model_dump(
            mode="json"
        )

    def directives(
        self, practice_id: uuid.UUID | str | None = None, *, history: bool = False
    ) -> list[dict[str, Any]]:
        params: dict[str, str] = {"history": "true"} if history else {}
        if practice_id is not None:
            params["practice_id"] = str(practice_id)
        return self._directives(self.exchange.call("GET", "/consents", params=params))

    def fhir(self) -> dict[str, Any]:
        """Every version of your directives as a FHIR R4 Bundle of Consent."""
        return self.exchange.call("GET", "/consents/fhir").json()  # type: ignore[no-any-return]

    def of_patient_file(self, patient_file_id: uuid.UUID | str) -> list[dict[str, Any]]:
        """The directives in force for a patient file (its practice's members)."""
        return self._directives(
            self.exchange.call("GET", f"/patient-files/{patient_file_id}/consents")
        )

    # -- research studies -----------------------------------------------------------------

    def research(
        self, practice_id: uuid.UUID | str, study_id: uuid.UUID | str, decision: str
    ) -> dict[str, Any]:
        """Consent to one study of the practice (``permit``) or withdraw (``deny``)."""
        return self.decide(practice_id, Purpose.RESEARCH, decision, study_id=study_id)

    def studies(self, practice_id: uuid.UUID | str) -> list[dict[str, Any]]:
        """The practice's studies as you may see them (members: all of them; patients:
        those open to you and those you consent to, with your decision)."""
        answer = self.exchange.call("GET", f"/practices/{practice_id}/studies")
        served = parse(list[StudyOut], answer, ExchangeRefused, "the studies")
        return [study.model_dump(mode="json") for study in served]

    def declare_study(
        self,
        practice_id: uuid.UUID | str,
        *,
        title: str,
        sponsor: str,
        purpose: str,
        methodology: str,
        starts_on: date,
        ends_on: date | None = None,
        duration_months: int | None = None,
        authorisation: str | None = None,
    ) -> dict[str, Any]:
        """(Admins, practitioners) Declare a study the practice takes part in."""
        request = StudyIn(
            title=title,
            sponsor=sponsor,
            purpose=purpose,
            methodology=Methodology(methodology),
            authorisation=authorisation,
            starts_on=starts_on,
            ends_on=ends_on,
            duration_months=duration_months,
        )
        answer = self.exchange.call("POST", f"/practices/{practice_id}/studies", json=body(request))
        return parse(StudyOut, answer, ExchangeRefused, "a study").model_dump(mode="json")

    def close_study(self, study_id: uuid.UUID | str) -> dict[str, Any]:
        """(Admins, practitioners) Close a study before its end."""
        answer = self.exchange.call("POST", f"/studies/{study_id}/close")
        return parse(StudyOut, answer, ExchangeRefused, "a study").model_dump(mode="json")

    # -- the information notice (R11) ----------------------------------------------------

    def information(self) -> list[dict[str, Any]]:
        """The notices you were given, with when and how (patients), oldest first."""
        return self._information(self.exchange.call("GET", "/consents/information"))

    def file_information(self, patient_file_id: uuid.UUID | str) -> list[dict[str, Any]]:
        """When and how a file's patient was informed (its practice's practitioners)."""
        return self._information(
            self.exchange.call("GET", f"/patient-files/{patient_file_id}/information")
        )

    def record_information(
        self,
        patient_file_id: uuid.UUID | str,
        informed_on: date,
        notice_version: int | None = None,
    ) -> dict[str, Any]:
        """(Practitioners) You informed the file's patient in person at first care on
        ``informed_on``, with this version of the practice's notice (its current one when
        left out)."""
        request = InformationIn(informed_on=informed_on, notice_version=notice_version)
        answer = self.exchange.call(
            "POST", f"/patient-files/{patient_file_id}/information", json=body(request)
        )
        return parse(InformationOut, answer, ExchangeRefused, "an information").model_dump(
            mode="json"
        )

    def notice(self, practice_id: uuid.UUID | str, version: int | None = None) -> dict[str, Any]:
        """The practice's current notice, or one version of it."""
        path = f"/practices/{practice_id}/notice"
        if version is not None:
            path = f"/practices/{practice_id}/notices/{int(version)}"
        answer = self.exchange.call("GET", path)
        return parse(NoticeOut, answer, ExchangeRefused, "a notice").model_dump(mode="json")

    def publish_notice(
        self, practice_id: uuid.UUID | str, text_fr: str, text_en: str | None = None
    ) -> dict[str, Any]:
        """(Admins) Publish the practice's next version of its notice."""
        request = NoticeIn(text_fr=text_fr, text_en=text_en)
        answer = self.exchange.call("POST", f"/practices/{practice_id}/notices", json=body(request))
        return parse(NoticeOut, answer, ExchangeRefused, "a notice").model_dump(mode="json")

    @staticmethod
    def _information(answer: httpx2.Response) -> list[dict[str, Any]]:
        served = parse(list[InformationOut], answer, ExchangeRefused, "the information")
        return [information.model_dump(mode="json") for information in served]

    @staticmethod
    def _directives(answer: httpx2.Response) -> list[dict[str, Any]]:
        served = parse(list[DirectiveOut], answer, ExchangeRefused, "the directives")
        return [directive.model_dump(mode="json") for directive in served]
