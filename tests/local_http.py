"""Real HTTP servers on 127.0.0.1 for the metadata-probe and live-provider tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# handler(method, path, headers) -> (status, headers, body) ; headers are lower-cased keys
Route = Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], bytes]]


class LocalServer:
    """A threaded HTTP server that records every request and answers through ``route``."""

    def __init__(self, route: Route, delay_s: float = 0.0) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        # each request with its body: (method, path, headers, body)
        self.exchanges: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self.rfile.read(int(headers.get("content-length") or 0))
                outer.exchanges.append((self.command, self.path, headers, body))
                outer.requests.append((self.command, self.path, headers))
                if delay_s:
                    time.sleep(delay_s)
                status, hdrs, body = route(self.command, self.path, headers)
                try:
                    self.send_response(status)
                    for k, v in hdrs.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (budget spent): expected in timeout tests

            do_GET = do_PUT = do_POST = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class HangingServer:
    """Accepts TCP connections (kernel backlog) and never answers: a black-hole endpoint."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused at once)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
