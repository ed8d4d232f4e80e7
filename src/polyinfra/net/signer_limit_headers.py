"""The venue's per-signer rate-limit headers on an answer (venue notes: Rate limits), read into
:class:`SignerLimitHeaders`: the tier it names, what is left of the bucket, when it refills, and its warning.

Pure parsing of what the venue sends: an unreadable value is None, never an error, so a malformed header
cannot fail a request whose answer is otherwise good. The HTTP pipeline (:mod:`polyinfra.net.http_pipeline`)
acts on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["SignerLimitHeaders"]


@dataclass(frozen=True, slots=True)
class SignerLimitHeaders:
    """The venue's ``Poly-RateLimit-*`` headers on one answer (venue notes: Rate limits); unreadable values are None."""

    tier: str | None
    remaining: int | None
    reset_at: int | None
    """Unix seconds when the signer's bucket holds enough for the request again."""
    retry_after_s: int | None
    warning: bool

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> SignerLimitHeaders | None:
        """The headers of ``headers`` (lower-case names), or None when the answer has none."""
        if not any(name.startswith("poly-ratelimit-") for name in headers):
            return None
        return cls(
            tier=headers.get("poly-ratelimit-tier") or None,
            remaining=_integer(headers.get("poly-ratelimit-remaining")),
            reset_at=_integer(headers.get("poly-ratelimit-reset")),
            retry_after_s=_integer(headers.get("retry-after")),
            warning=headers.get("poly-ratelimit-warning", "").lower() == "true",
        )

    def hold_until(self, status: int, now_unix: float) -> float | None:
        """Until when (unix seconds) the bucket is empty at the venue, or None if it is not."""
        refused = status == 429
        if not refused and (self.remaining is None or self.remaining > 0):
            return None
        candidates = [float(self.reset_at)] if self.reset_at is not None else []
        if refused and self.retry_after_s is not None:
            candidates.append(now_unix + self.retry_after_s)
        return max(candidates, default=None)


_READABLE_BOUND: Final = 10**15
"""Past any time in unix seconds or any count the venue sends (30 million years); a larger value is
unreadable, and would overflow the float arithmetic of :meth:`SignerLimitHeaders.hold_until`."""


def _integer(text: str | None) -> int | None:
    try:
        value = None if text is None else int(text.strip())
    except ValueError:
        return None
    return value if value is not None and -_READABLE_BOUND <= value <= _READABLE_BOUND else None
