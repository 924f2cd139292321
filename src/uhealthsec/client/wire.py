"""The server's answers read as the protocol's models (uhealthsec.protocol), and this
device's requests written from them.

The server is not trusted: an answer that does not fit its model is refused with the
calling module's refusal and a short reason (which field, what is wrong), never
passed on as a validation traceback, and never half read."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

import httpx2
from pydantic import BaseModel, TypeAdapter, ValidationError

T = TypeVar("T")


@cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def parse(shape: type[T], answer: httpx2.Response, refusal: type[Exception], what: str) -> T:
    """The JSON body of ``answer`` as ``shape`` (a model, or e.g. a list of them), or
    ``refusal`` saying what of ``what`` (the answer's subject) is malformed."""
    try:
        # Types hash, but typeshed's cache() wants a Hashable it cannot see in type[T].
        adapter: TypeAdapter[T] = _adapter(shape)  # type: ignore[arg-type]
        return adapter.validate_json(answer.content)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        if error["type"] == "json_invalid":
            reason = "it is not JSON"
        else:
            where = ".".join(str(part) for part in error["loc"]) or "the answer"
            reason = f"{where}: {error['msg']}"
        raise refusal(f"the server's answer for {what} is malformed ({reason})") from None


def body(request: BaseModel) -> dict[str, Any]:
    """A request as JSON, with the fields it was given (an optional field left out is
    left out of the body, as the protocol writes it)."""
    return request.model_dump(mode="json", exclude_unset=True)
