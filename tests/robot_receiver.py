"""A local HTTP server standing in for 企业微信 and 钉钉 robot webhooks in the tests.

It records every POST (path, query, JSON body), answers like the services do
(``{"errcode": 0, "errmsg": "ok"}``), and can be told to fail (an HTTP status, an
errcode) or to answer slowly. ``keys()`` counts the idempotency keys it received (the
footer of every robot post carries one).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The token of every test webhook URL: no page, log or error may show it.
TOKEN = "secret-token-0123456789"
KEY = re.compile(r"\b[0-9a-f]{32}\b")


@dataclass
class Post:
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    received_at: float

    @property
    def text(self) -> str:
        markdown = self.body.get("markdown", {})
        return str(markdown.get("content") or markdown.get("text") or "")

    @property
    def key(self) -> str | None:
        found = KEY.findall(self.text)
        return found[-1] if found else None


@dataclass
class Receiver:
    base_url: str = ""
    posts: list[Post] = field(default_factory=list)
    status: int = 200  # the HTTP status to answer with
    errcode: int = 0
    delay: float = 0.0  # seconds to wait before answering
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str, token: str = TOKEN) -> str:
        """A webhook URL on this receiver, with its token in the query (as both have)."""
        name = "key" if path.startswith("/wecom") else "access_token"
        return f"{self.base_url}{path}?{name}={token}"

    def keys(self) -> Counter[str]:
        with self.lock:
            return Counter(post.key for post in self.posts if post.key)

    def snapshot(self) -> list[Post]:
        with self.lock:
            return list(self.posts)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            parts = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            status = receiver.status
            if status == 200:
                # Recorded on arrival: a sender killed while waiting for the answer did
                # post the message (what a crash may repeat). A 500 posted nothing.
                with receiver.lock:
                    receiver.posts.append(
                        Post(parts.path, query, json.loads(raw.decode("utf-8")), time.time())
                    )
            if receiver.delay:
                time.sleep(receiver.delay)
            answer = json.dumps({"errcode": receiver.errcode, "errmsg": "test"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="robot-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


if __name__ == "__main__":
    # Try the robots by hand: `python -m tests.robot_receiver 8099`, then give a branch
    # the webhook http://127.0.0.1:8099/wecom?key=test (or /dingtalk?access_token=test)
    # and run `jifen notify run`: every post is printed as it arrives.
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8099
    shown = 0
    with running_receiver() as live:
        live_server = ThreadingHTTPServer(("127.0.0.1", port), _handler(live))
        print(f"listening on http://127.0.0.1:{port}/wecom and /dingtalk", flush=True)
        threading.Thread(target=live_server.serve_forever, daemon=True).start()
        try:
            while True:
                time.sleep(0.5)
                for post in live.snapshot()[shown:]:
                    print(f"--- {post.path} {post.query}\n{post.text}\n", flush=True)
                shown = len(live.snapshot())
        except KeyboardInterrupt:
            live_server.shutdown()
