"""The `notify` section: the morning webhook (off by default), and the URL redaction its logs use."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from settings.base import StrictModel


def redacted(url: str) -> str:
    """The URL without its path and query: webhook URLs carry their secret there, and logs must not."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/..."


class NotifySection(StrictModel):
    """A webhook told when the night ends or a specialist is aborted (off unless webhook_url is set)."""

    webhook_url: str | None = None
    """http(s) URL that receives a JSON POST (Slack-style incoming webhooks work); None: no notification."""
    timeout_s: float = Field(5.0, gt=0, le=60)
    """Seconds one POST may take (connect and answer); it runs in its own thread, so the run never waits."""
    on_abort: bool = True
    """Also notify when a specialist is aborted, not only when the night ends."""

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
            raise ValueError(f"webhook_url must be an http:// or https:// URL, got {redacted(url)!r}")
        return url
