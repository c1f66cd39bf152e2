"""No server-side request forgery: URL ingest and callbacks reach no loopback, private or
other non-public address (in any spelling), not even by a redirect, unless allowed; their
errors do not tell what a target answered."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpx
import pytest

from stemcast.net.outbound import OutboundPolicy, OutboundRefused, guarded_client, why_not_public
from tests.security.conftest import Target
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("0.0.0.0", "unspecified"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"),
    ("100.64.0.1", "non-public"), ("255.255.255.255", "reserved"),
    ("::1", "loopback"), ("::", "unspecified"), ("fe80::1", "link-local"),
    ("fc00::1", "private"), ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("64:ff9b::7f00:1", "loopback"), ("2002:7f00:1::", "loopback"),
])
def test_non_public_addresses_are_named(address: str, kind: str) -> None:
    reason = why_not_public(ipaddress.ip_address(address))
    assert reason is not None and (reason == kind or kind == "reserved"), (address, reason)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert why_not_public(ipaddress.ip_address(address)) is None


def _fetch(server: ServerProcess, url: str) -> httpx.Response:
    return httpx.post(f"{server.http_url}/api/tracks/fetch", json={"url": url}, timeout=60)


@pytest.mark.parametrize("host", [
    "127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0.0.0.0",
    "[::1]", "[::ffff:127.0.0.1]", "[0:0:0:0:0:ffff:7f00:1]",
])
def test_url_ingest_refuses_loopback_in_every_spelling(guarded: ServerProcess, target: Target,
                                                       host: str) -> None:
    before = len(target.hits)
    response = _fetch(guarded, f"http://{host}:{target.port}/song.wav")
    error = response.json()["error"]
    if host == "0177.0.0.1":  # octal: httpx refuses to parse it at all
        assert response.status_code == 422 and error["code"] == "INVALID_FIELD"
    else:
        assert response.status_code == 403, response.text
        assert error["code"] == "URL_NOT_ALLOWED" and "--fetch-allow-private" in error["message"]
    assert len(target.hits) == before  # no request reached the target


def test_url_ingest_cannot_reach_the_server_itself(guarded: ServerProcess) -> None:
    response = _fetch(guarded, f"{guarded.http_url}/metrics")
    assert response.status_code == 403 and response.json()["error"]["code"] == "URL_NOT_ALLOWED"


def test_callback_url_to_loopback_is_refused_at_submission(guarded: ServerProcess,
                                                           music_dir: Path,
                                                           target: Target) -> None:
    response = httpx.post(f"{guarded.http_url}/jobs", json={
        "file_path": str(music_dir / "song.wav"), "callback_url": f"{target.url}/cb",
        "stem_delivery_mode": "path"}, timeout=30)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "CALLBACK_URL_NOT_ALLOWED"
    assert "--callback-allow-host" in error["message"]


async def test_redirects_are_checked_again(target: Target) -> None:
    """The first hop is allowed, the redirect to another loopback port is not."""
    policy = OutboundPolicy.of(False, [f"127.0.0.1:{target.port}"])
    elsewhere = f"http://127.0.0.1:{free_port()}/secret"
    async with guarded_client(policy, timeout=10, follow_redirects=True) as client:
        assert (await client.get(f"{target.url}/song.wav")).status_code == 200
        with pytest.raises(OutboundRefused):
            await client.get(f"{target.url}/redirect?to={elsewhere}")


async def test_the_checked_address_is_used_with_the_host_name_kept(target: Target) -> None:
    policy = OutboundPolicy.of(False, [f"localhost:{target.port}"])
    async with guarded_client(policy, timeout=10) as client:
        response = await client.get(f"http://localhost:{target.port}/song.wav")
    assert response.status_code == 200
    assert target.hits[-1][1]["Host"] == f"localhost:{target.port}"


async def test_the_allowlist_names_a_port(target: Target) -> None:
    policy = OutboundPolicy.of(False, [f"127.0.0.1:{target.port + 1}"])
    async with guarded_client(policy, timeout=10) as client:
        with pytest.raises(OutboundRefused):
            await client.get(f"{target.url}/song.wav")


def test_one_flag_lets_a_same_host_app_receive_callbacks(
        tmp_path: Path, music_dir: Path, target: Target) -> None:
    server = ServerProcess(tmp_path / "data", args=[
        "--model", "dsp", "--allow-path-prefix", str(music_dir),
        "--callback-allow-host", "localhost"], allow_private_targets=False).start()
    try:
        for host in ("localhost", "127.0.0.1"):  # by name, or the address it resolves to
            response = httpx.post(f"{server.http_url}/jobs", json={
                "file_path": str(music_dir / "song.wav"),
                "callback_url": f"http://{host}:{target.port}/cb",
                "options": {"stems": False, "basic_features": True}}, timeout=30)
            assert response.status_code == 200 or host == "127.0.0.1", response.text
        # URL ingest stays guarded: the callback allowlist is for callbacks only.
        fetched = _fetch(server, f"http://localhost:{target.port}/song.wav")
        assert fetched.status_code == 403
    finally:
        server.stop()


def test_fetch_errors_do_not_tell_ports_apart(tmp_path: Path, target: Target) -> None:
    """With private targets allowed, a closed port and a 404 read the same."""
    server = ServerProcess(tmp_path / "data", args=["--model", "dsp"]).start()
    try:
        closed = _fetch(server, f"http://127.0.0.1:{free_port()}/x.wav").json()["error"]
        missing = _fetch(server, f"{target.url}/missing").json()["error"]
        assert closed["code"] == missing["code"] == "FETCH_FAILED"
        assert closed["message"].replace(str(target.port), "") == \
            missing["message"].replace(str(target.port), "")
        assert "404" not in missing["message"] and "refused" not in closed["message"]
    finally:
        server.stop()
