"""URLs in messages: credentials in a URL's userinfo must never reach a log or an error."""

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str | None) -> str | None:
    """``https://user:secret@host/path`` -> ``https://***@host/path``; other URLs unchanged."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))
