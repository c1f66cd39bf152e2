"""The one stems-request pipeline: admit -> separation job -> finish -> typed outcomes.

Both front doors (the WebSocket session and the HTTP job API) hand their requests to
`StemsPipeline` and translate its outcomes (`StemsReady`, `DrumsReady`,
`RequestFailed`) into their own messages; neither admits or finishes a request itself.
"""

from stemcast.requests.failures import TrackTooLongError, failure_for, undeliverable
from stemcast.requests.outcomes import DrumsReady, RequestFailed, StemsAsk, StemsReady
from stemcast.requests.pipeline import StemsPipeline

__all__ = [
    "DrumsReady",
    "RequestFailed",
    "StemsAsk",
    "StemsPipeline",
    "StemsReady",
    "TrackTooLongError",
    "failure_for",
    "undeliverable",
]
