"""The page's Workers card against a real fleet: a real `redis-server`, one
`serve --queue` (no workers of its own) and one `stemcast worker --device cpu` on the tiny
model, in a real headless Chromium.

The card lists the worker (name, device, model, heartbeat age); while it runs the page's
job, the card names the track; after SIGTERM it drains and leaves, and the card says there
are no workers. The worker's separation process is held with SIGSTOP while the job is in
hand, so "running" is seen however fast the machine is (its node keeps heartbeating: it is
the node that talks to Redis). Screenshots at 1440x900 and 390x844 go to test-artifacts/.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TINY_MODEL
from tests.integration.test_resilience import _wait
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.browser import ARTIFACTS, assert_fits, open_page, require_browser
from tests.support.fleet import RedisProcess, WorkerProcess, redis_server_binary
from tests.support.server import ServerProcess

sync_api = require_browser()
expect = sync_api.expect

pytestmark = pytest.mark.integration

redis_server_binary()  # skipped here (a failure under CI) without redis-server

WORKER = "page-w0"
TITLE = "Fleet Page Song"
AGE = re.compile(r"^\d+ s ago$")


@dataclass
class Fleet:
    redis: RedisProcess
    server: ServerProcess
    worker: WorkerProcess
    clip: Path

    def workers(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.server.health()["queue"]["workers"]
        return rows

    def separation_process(self) -> int:
        """The worker's separation process: the node's child that is not
        multiprocessing's resource tracker."""
        assert self.worker.process is not None
        pid = self.worker.process.pid
        children = [int(c) for c in
                    Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        spawned = [c for c in children if b"resource_tracker" not in
                   Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(spawned) == 1, (children, self.worker.log())
        return spawned[0]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("page-fleet")
    clip = folder / f"{TITLE}.wav"
    write_audio(clip, make_music_like_signal(4.0, seed=21), 44100)
    broker = RedisProcess(folder / "redis").start()
    server = ServerProcess(folder / "data", args=["--model", TINY_MODEL, "--queue", broker.url])
    worker = WorkerProcess(broker.url, ["--model", TINY_MODEL, "--model-repo",
                                        str(tiny_model_repo), "--device", "cpu"],
                           folder / "worker.log", WORKER)
    state = Fleet(broker, server, worker, clip)
    try:
        server.start(wait_model=False)
        worker.start()
        _wait(lambda: any(w["name"] == WORKER and w["alive"] and w["state"] == "ready"
                          for w in state.workers()), 240,
              f"the worker ready:\n{worker.log()}\n{server.log()}")
        yield state
    finally:
        worker.stop(timeout=10)
        server.stop()
        broker.kill()


def _item(page: Any) -> Any:
    return page.locator(f'#workers li[data-worker="{WORKER}"]')


def test_the_workers_card_follows_the_fleet(browser: Any, fleet: Fleet) -> None:
    context, page, errors = open_page(browser, 1440, 900)
    try:
        page.goto(fleet.server.http_url + "/")
        expect(page.locator("#conn")).to_have_text("Connected")
        item = _item(page)
        expect(item).to_have_count(1)
        expect(page.locator("#workers li")).to_have_count(1)  # the server runs none itself
        expect(item.locator("[data-fact=device]")).to_have_text("cpu")
        expect(item.locator("[data-fact=model]")).to_have_text(TINY_MODEL)
        expect(item.locator("[data-fact=job]")).to_have_text("none")
        expect(item.locator(".worker-state")).to_have_text("Idle")
        expect(item.locator("[data-fact=heartbeat]")).to_have_text(AGE)
        expect(page.locator("#workers-empty")).to_be_hidden()
        # Each fact has its label (dt) in the accessibility tree, and the card is no live
        # region: it changes with every poll.
        tree = page.locator("#workers").aria_snapshot()
        for label in ("Device", "Model", "Job", "Heartbeat"):
            assert label in tree, tree
        assert page.locator("#workers").evaluate(
            "el => el.closest('[aria-live]') === null")

        # A job in hand, its separation held: the card names the track it runs.
        held = fleet.separation_process()
        os.kill(held, signal.SIGSTOP)
        try:
            expect(page.locator("#model-select")).to_contain_text(TINY_MODEL)
            page.set_input_files("#file-input", str(fleet.clip))
            page.get_by_role("button", name="Separate").click()
            expect(page.locator("#job-track strong")).not_to_be_empty()
            title = page.locator("#job-track strong").inner_text()
            expect(item.locator(".worker-state")).to_have_text("Running", timeout=60_000)
            expect(item.locator("[data-fact=job]")).to_have_text(title, timeout=30_000)
            expect(item.locator("[data-fact=heartbeat]")).to_have_text(AGE)
            # The side column's cards (a queue row, this worker) keep to the column.
            expect(page.locator("#queue tr")).to_have_count(1)
            assert_fits(page, "1440x900, a fleet worker running a job")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "web-workers-1440x900.png"), full_page=False)
            _phone_view(browser, fleet, title)
        finally:
            os.kill(held, signal.SIGCONT)
        expect(page.locator("#job")).to_have_attribute("data-stage", "complete",
                                                        timeout=120_000)
        expect(item.locator(".worker-state")).to_have_text("Idle", timeout=30_000)
        expect(item.locator("[data-fact=job]")).to_have_text("none")

        # SIGTERM: the worker drains and leaves the fleet; the card says none is left.
        assert fleet.worker.stop(timeout=30) == 0, fleet.worker.log()
        expect(page.locator("#workers li")).to_have_count(0, timeout=30_000)
        expect(page.locator("#workers-empty")).to_be_visible()
    finally:
        context.close()
    assert not errors, errors


def _phone_view(browser: Any, fleet: Fleet, title: str) -> None:
    """At 390 px the card fits: no sideways scroll, the running job's title in it."""
    context, page, errors = open_page(browser, 390, 844)
    try:
        page.goto(fleet.server.http_url + "/")
        expect(page.locator("#conn")).to_have_text("Connected")
        item = _item(page)
        expect(item.locator("[data-fact=job]")).to_have_text(title)
        sizes = page.evaluate("""() => ({scroll: document.documentElement.scrollWidth,
                                         client: document.documentElement.clientWidth})""")
        assert sizes["scroll"] <= sizes["client"] == 390, sizes
        box = item.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert_fits(page, "390x844, a fleet worker running a job")
        page.locator("#workers").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "web-workers-390x844.png"), full_page=False)
    finally:
        context.close()
    assert not errors, errors
