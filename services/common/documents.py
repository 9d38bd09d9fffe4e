"""JSON documents as the stack reads them: strict JSON, shallow, storable text.

The gateway reads request bodies with these rules and the identity service
reads the JSON the gateway forwards with the same ones, so whatever one side
accepts the other accepts too, and nothing that PostgreSQL refuses to store
reaches a query.
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.common.errors import InvalidSyntax, InvalidValue

# A PatchOp holding an extension's complex value nests 7 levels; nothing a
# SCIM client sends needs 32.
MAX_DEPTH = 32

# Python decodes an escaped surrogate pair to one character, so a surrogate
# left in a string had no partner; UTF-8 cannot encode it.
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")
# An escape of U+0000 or of a surrogate in JSON text. A false match (an
# escaped backslash before "u0000") costs only a look at every string.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_CONTAINERS = (dict, list)


def load_object(text: str, *, what: str) -> dict[str, Any]:
    """Return the JSON object in `text`.

    Raises:
        InvalidSyntax: `text` is not one JSON object (RFC 8259: NaN and
            Infinity are not JSON), or it nests deeper than `MAX_DEPTH`.
        InvalidValue: a name or a string holds text that cannot be stored.
    """
    try:
        document = _DECODER.decode(text)
    except RecursionError:
        raise InvalidSyntax(f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise InvalidSyntax(f"{what} is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidSyntax(f"{what} must be a JSON object")
    if _may_decode_unstorable(text):
        check_document(document, what=what)
    else:
        _check_depth(document, what=what)
    return document


def check_document(document: Any, *, what: str) -> None:
    """Refuse a decoded document that nests too deeply or holds unstorable text."""
    a_string, a_name = f"a string in {what}", f"a name in {what}"
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            check_text(value, what=a_string)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise InvalidSyntax(f"{what} nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for name in value:
                check_text(name, what=a_name)
            pending.extend((item, depth + 1) for item in value.values())
        else:
            pending.extend((item, depth + 1) for item in value)


def _may_decode_unstorable(text: str) -> bool:
    """Tell whether a string decoded from JSON `text` may hold unstorable text."""
    if "\x00" in text or _UNSTORABLE_ESCAPE.search(text):
        return True
    # A surrogate is not ASCII, and `isascii` reads a flag the text already holds.
    return not text.isascii() and _UNPAIRED_SURROGATE.search(text) is not None


def _check_depth(document: Any, *, what: str) -> None:
    """Refuse a decoded document that nests deeper than `MAX_DEPTH`."""
    level, depth = [document], 1
    while level:
        if depth > MAX_DEPTH:
            raise InvalidSyntax(f"{what} nests deeper than {MAX_DEPTH} levels")
        inner: list[Any] = []
        for value in level:
            for item in value.values() if isinstance(value, dict) else value:
                if isinstance(item, _CONTAINERS):
                    inner.append(item)
        level, depth = inner, depth + 1


def check_text(value: str, *, what: str) -> None:
    """Refuse text PostgreSQL cannot store: U+0000, or a surrogate without its pair."""
    if "\x00" in value:
        raise InvalidValue(f"{what} holds the character U+0000")
    if _UNPAIRED_SURROGATE.search(value):
        raise InvalidValue(f"{what} holds an unpaired UTF-16 surrogate")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Made once: `json.loads` with an option builds a decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
