"""Changes of SCIM tokens announced to every gateway replica over Redis pub/sub.

The identity service publishes a token's id on `CHANNEL` after committing a
revocation or a change of expiry; each gateway drops what it cached for that
token. The message is the token id alone: never a secret, never a hash.
"""

from __future__ import annotations

import uuid

CHANNEL = "rvn:scim-token:changed"


def encode(token_id: uuid.UUID) -> str:
    """Return the message announcing a change of token `token_id`."""
    return str(token_id)


def decode(message: bytes | str) -> str | None:
    """Return the token id in a message, or None when it is not one."""
    text = message.decode("ascii", "replace") if isinstance(message, bytes) else message
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None
