"""Issue 12, item 8, over real HTTP: one tenant could fill a server's memory with media.

40 parallel 4.9 MB handset posts with inline media took a server's RSS from 195 MB to 720 MB
and left it 423 MB above where it started. Against a live `openband serve` on each backend, the
server's memory is read from /proc while the attack runs: its peak stays within a bound (the
bodies held at once are budgeted, refused beyond it with 503 and Retry-After) and it returns
near its start (freed buffers go back to the OS). Then the same for 40 parallel uploads of
3.75 MB to /media, which are streamed into the blob store, never held whole.
"""

from __future__ import annotations

import base64
import os
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.cluster import (
    Node,
    create_account,
    database,
    handset,
    provision_messaging,
    running,
)

pytestmark = [pytest.mark.slow]

PARALLEL = 40
INLINE_BYTES = 3_650_000  # 4.87 MB of base64 in a 4.9 MB body
UPLOAD_BYTES = 3_900_000
MB = 1024 * 1024
# Measured (docs/security-media.md): peak +55-60 MB and +4 MB kept after the handset attack,
# where there were +525 MB and +423 MB (no budget: +680 MB peak). The bounds leave room for
# noise and fail well before the old behaviour.
PEAK_BOUND = 200 * MB
KEPT_BOUND = 30 * MB


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


class Peak:
    """The process's peak RSS over a stretch of time: the kernel's high-water mark, reset at
    the start (clear_refs), or where that is not allowed, samples taken meanwhile."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sampled = 0
        self._stop = threading.Event()
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.sampled = max(self.sampled, _status(self.pid)["VmRSS"])
            self._stop.wait(0.005)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def value(self) -> int:
        return max(self.sampled, _status(self.pid)["VmHWM"] if self.reset else 0)


def _parallel(
    n: int, request: Callable[[httpx.Client, int], httpx.Response], base: str, auth
) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(n)

    def one(i: int) -> None:
        with httpx.Client(base_url=base, auth=auth, timeout=120) as c:
            start.wait()
            r = request(c, i)
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_parallel_media_posts_and_uploads_stay_within_a_memory_bound(
    kind: str, tmp_path: Path
) -> None:
    with database(kind, tmp_path / "db") as url:
        acct = create_account(url)
        node = Node(tmp_path / "node", url)
        with running(node.start()):
            assert node.proc is not None
            pid = node.proc.pid
            with node.client(acct, timeout=120) as c:
                sender = provision_messaging(c, acct.account_id, "http://127.0.0.1:9/cb", None)
                mine = sender.numbers[0]
                # Warm up every path the attack takes, so the baseline holds what they load.
                small = {"contentType": "image/png", "content": base64.b64encode(b"x").decode()}
                warm = {"from": handset(), "to": mine, "text": "x", "media": [small]}
                assert c.post("/sim/v1/messages", json=warm).status_code == 202
                media = f"/api/v2/users/{acct.account_id}/media"
                assert c.put(f"{media}/warm", content=b"x" * 100_000).status_code == 204
                assert c.get(f"{media}/warm").status_code == 200

            body = orjson.dumps(
                {
                    "from": handset(),
                    "to": mine,
                    "text": "big",
                    "media": [
                        {
                            "contentType": "image/png",
                            "name": "big.png",
                            "content": base64.b64encode(os.urandom(INLINE_BYTES)).decode(),
                        }
                    ],
                }
            )
            assert len(body) > 4_800_000
            before = _status(pid)["VmRSS"]
            with Peak(pid) as peak:
                answers = _parallel(
                    PARALLEL,
                    lambda c, _: c.post(
                        "/sim/v1/messages",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    ),
                    node.base_url,
                    acct.auth,
                )
            after = _status(pid)["VmRSS"]
            codes = Counter(r.status_code for r in answers)
            assert set(codes) <= {202, 503}, codes
            assert codes[202] >= 1, codes
            for r in answers:
                if r.status_code == 503:
                    assert r.headers["retry-after"] == "1"
                    assert r.json()["type"] == "service-unavailable"
            print(f"\n{kind} handset posts {dict(codes)}: RSS {before // MB} MB -> peak "
                  f"{peak.value // MB} MB -> {after // MB} MB")  # fmt: skip
            assert peak.value - before < PEAK_BOUND
            assert after - before < KEPT_BOUND

            content = os.urandom(UPLOAD_BYTES)
            before = _status(pid)["VmRSS"]
            with Peak(pid) as peak:
                answers = _parallel(
                    PARALLEL,
                    lambda c, i: c.put(
                        f"{media}/upload-{i}",
                        content=content,
                        headers={"Content-Type": "image/png"},
                    ),
                    node.base_url,
                    acct.auth,
                )
            after = _status(pid)["VmRSS"]
            assert Counter(r.status_code for r in answers) == {204: PARALLEL}
            print(f"{kind} uploads: RSS {before // MB} MB -> peak {peak.value // MB} MB -> "
                  f"{after // MB} MB")  # fmt: skip
            # 40 bodies held whole would be 156 MB (and more copies in the database driver).
            assert peak.value - before < 100 * MB
            assert after - before < KEPT_BOUND
            with node.client(acct, timeout=120) as c:
                assert c.get(f"{media}/upload-7").content == content
