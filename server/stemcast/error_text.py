"""Error texts that always name the cause.

Some exceptions carry no message at all (httpx's ReadTimeout, asyncio's TimeoutError,
a bare OSError): `f"{type(exc).__name__}: {exc}"` then reads "ReadTimeout: ", which tells
a user nothing. `describe` falls back to the exception type's own one-line summary.
"""

from __future__ import annotations


def describe(exc: BaseException) -> str:
    """'Type: what happened', never with an empty 'what happened'."""
    text = str(exc).strip()
    if not text:
        text = _summary(type(exc))
    return f"{type(exc).__name__}: {text}"


def _summary(kind: type[BaseException]) -> str:
    for klass in kind.__mro__:
        if klass in (BaseException, Exception, object):
            break
        doc = (klass.__doc__ or "").strip()
        if doc:
            return doc.splitlines()[0].rstrip(".").lower()
    return "no details were given (see the server log)"
