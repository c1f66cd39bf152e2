"""The Standard Webhooks signer: the scheme's own test vector, both secret spellings, and
errors that never quote the secret."""

from __future__ import annotations

import pytest

from stemcast.config import Settings
from stemcast.net.webhooks import WebhookSigner, parse_secret


def test_the_standard_webhooks_reference_vector() -> None:
    # From the Standard Webhooks specification's libraries' tests.
    signer = WebhookSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = signer.headers("msg_p5jXN8AQM9LWM0D4loKWxJek", b'{"test": 2432232314}',
                             timestamp=1614265330)
    assert headers == {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
                       "webhook-timestamp": "1614265330",
                       "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}


def test_a_plain_secret_is_its_utf8_bytes() -> None:
    assert parse_secret("correct horse battery staple") == b"correct horse battery staple"
    plain = WebhookSigner("correct horse battery staple").headers("m", b"{}", 1)
    encoded = WebhookSigner("whsec_Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==").headers(
        "m", b"{}", 1)
    assert plain == encoded


def test_without_a_secret_only_id_and_time() -> None:
    headers = WebhookSigner(None).headers("msg_1", b"{}")
    assert set(headers) == {"webhook-id", "webhook-timestamp"}


@pytest.mark.parametrize(("secret", "words"), [
    ("tooshort", "at least 16"),
    ("whsec_%%%%not base64%%%%", "not base64"),
    ("whsec_c2hvcnQ=", "at least 16"),
])
def test_bad_secrets_are_refused_without_quoting_them(secret: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        Settings(callback_secret=secret).validate()
    assert secret not in str(caught.value) and secret[6:] not in str(caught.value)


def test_the_secret_is_in_no_repr() -> None:
    secret = "a-very-secret-callback-key"
    assert secret not in repr(Settings(callback_secret=secret))
    assert secret not in repr(WebhookSigner(secret))
