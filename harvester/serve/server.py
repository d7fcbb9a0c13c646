"""``ReplicaServer``: the replica on a loopback port, served from a background thread.

One thread per request (so a ``slow`` fault does not hold up other requests) and one request
per connection (HTTP/1.0, as wsgiref speaks): a ``drop_connection`` fault ends the
connection right after the partial body, exactly like a peer that hung up.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import struct
import threading
from types import TracebackType
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from .app import RESET_KEY, ReplicaApp
from .faults import Faults
from .store import StudyStore


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests make thousands of requests; faults.log is the record

    def handle(self) -> None:
        # wsgiref's own handle(), but telling the app it runs multithreaded.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _QuietServerHandler(
            self.rfile, cast(IO[bytes], self.wfile), self.get_stderr(), self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self
        handler.run(self.server.get_app())  # type: ignore[attr-defined]
        if handler.reset:  # a fault: end with a reset, not a clean close
            cast(_ThreadingWSGIServer, self.server).to_reset.add(self.request)


class _QuietServerHandler(ServerHandler):
    request_handler: WSGIRequestHandler  # wsgiref logs the request through it on close

    reset = False  # whether a fault asked for the connection to be reset at the end

    def finish_response(self) -> None:
        environ = getattr(self, "environ", None) or {}  # typeshed omits these attributes
        self.reset = bool(environ.get(RESET_KEY))
        if self.reset and not getattr(self, "status", None):
            return  # a stall: say nothing at all, not even an error page
        super().finish_response()

    def log_exception(self, exc_info: Any) -> None:
        # The app never raises; what reaches here is a client that went away mid-response
        # (a timed-out test client during a slow fault), which is not worth a traceback.
        pass


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request stuck in a slow fault must not keep the process alive
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.to_reset: set[socket.socket] = set()

    def shutdown_request(self, request: Any) -> None:
        if request in self.to_reset:
            self.to_reset.discard(request)
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_request(request)
            return
        super().shutdown_request(request)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall
        # for seconds in a sandbox; the name is only used for SERVER_NAME.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
        self.setup_environ()


class ReplicaServer:
    """A running replica: ``with ReplicaServer(store) as server: requests.get(server.base_url …)``.

    Binds only to a loopback address (127.0.0.1 by default; ``port=0`` picks a free port).
    """

    def __init__(
        self,
        store: StudyStore,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        address = socket.gethostbyname(host)
        if not ipaddress.ip_address(address).is_loopback:
            raise ValueError(f"the replica binds to loopback addresses only, not {host!r}")
        self.store = store
        self.faults = faults if faults is not None else Faults()
        self.app = ReplicaApp(store, self.faults)
        self._server = _ThreadingWSGIServer((address, port), _Handler)
        self._server.set_app(self.app)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the harvester appends ``/api/v2/…``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ReplicaServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
                name=f"replica-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self.faults.release()  # stalls and trickles end now
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ReplicaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
