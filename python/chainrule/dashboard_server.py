"""The dashboard's web server: tornado (as Jupyter uses) on its own thread, bound to
127.0.0.1 on a free port, every request checked for the run's token (in the URL or the
``X-Chainrule-Token`` header, as Jupyter's) and for a loopback Host header (so that another
site cannot reach it by DNS rebinding). It serves the page, its scripts (this package's and
the plotly.js bundle of the installed ``plotly``), and the run's own data from a *source*:
any object with ``run() -> dict`` and ``frame(epoch, row) -> dict`` (the live dashboard or a
recorded run). Nothing the browser does can reach the training: a request only reads the
source, and a failing request or a closed browser ends nothing but that request."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import secrets
import socket
import threading
from typing import Any, Optional

from .dashboard_page import FILES, require, served_page, static
from .dashboard_views import FORMAT, jsonable

__all__ = ["Server"]


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: a free one). One that cannot is closed,
    and the OSError (of the same errno) names the address."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # as tornado's bind_sockets: a port in TIME_WAIT can be reused
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        message = f"the dashboard cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise (OSError(exc.errno, message) if exc.errno else OSError(message)) from exc
    return sock


class Server:
    """Serves ``source`` at ``url`` (``http://127.0.0.1:PORT/?token=...``) from a daemon
    thread until :meth:`close`. ``port=0`` takes a free port."""

    def __init__(
        self, source: Any, title: str = "chainrule", port: int = 0, host: str = "127.0.0.1"
    ) -> None:
        require()
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(
                f"the dashboard binds to the loopback interface only, got host {host!r}"
            )
        self.source = source
        self.title = title
        self.token = secrets.token_urlsafe(32)
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._server: Any = None
        self.host = "127.0.0.1" if host == "localhost" else host
        sock = _listen(self.host, port)
        self.port = int(sock.getsockname()[1])
        self._thread = threading.Thread(
            target=self._run, args=(sock,), daemon=True, name="chainrule-dashboard"
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    def _run(self, sock: socket.socket) -> None:
        import tornado.httpserver
        import tornado.web

        loop = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(loop)
            self._loop = loop
            app = tornado.web.Application(
                _handlers(self), compress_response=True, log_function=lambda handler: None
            )
            self._server = tornado.httpserver.HTTPServer(app, xheaders=False)
            self._server.add_sockets([sock])
        except BaseException as exc:  # reported by the constructor
            self._error = exc
            sock.close()
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def close(self) -> None:
        """Stop serving and close every connection (idempotent)."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._thread.is_alive():
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.stop()
                await self._server.close_all_connections()
            loop.stop()

        try:
            loop.call_soon_threadsafe(lambda: loop.create_task(stop()))
        except RuntimeError:  # already closed
            return
        self._thread.join(timeout=10)

    def __repr__(self) -> str:
        return f"<chainrule dashboard at {self.url}>"


def _handlers(server: Server) -> list:
    import tornado.web

    class Base(tornado.web.RequestHandler):
        def prepare(self) -> None:
            host = self.request.host or ""
            allowed = {
                f"127.0.0.1:{server.port}",
                f"localhost:{server.port}",
                f"[::1]:{server.port}",
            }
            if host not in allowed:
                raise tornado.web.HTTPError(403, "wrong Host")
            given = self.get_query_argument("token", "") or self.request.headers.get(
                "X-Chainrule-Token", ""
            )
            if not hmac.compare_digest(given.encode(), server.token.encode()):
                raise tornado.web.HTTPError(403, "missing or wrong token")

        def set_default_headers(self) -> None:
            self.set_header("Cache-Control", "no-store")
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Referrer-Policy", "no-referrer")
            self.set_header(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self' 'unsafe-eval'; "
                "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                "connect-src 'self'; frame-ancestors 'none'",
            )

        def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
            if not isinstance(value, tornado.web.HTTPError):  # refusals are not news
                super().log_exception(typ, value, tb)

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"{status_code}: {self._reason}\n")

        def send_json(self, data: Any) -> None:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            if isinstance(data, str):  # already encoded
                self.finish(data)
                return
            try:  # the sources give JSON-ready data; anything else is converted
                text = json.dumps(data, allow_nan=False)
            except (TypeError, ValueError):
                text = json.dumps(jsonable(data), allow_nan=False)
            self.finish(text)

    class Page(Base):
        def get(self) -> None:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(served_page(server.token, server.title))

    class Static(Base):
        def get(self, name: str) -> None:
            if name not in FILES:
                raise tornado.web.HTTPError(404)
            self.set_header("Content-Type", FILES[name] + "; charset=utf-8")
            self.finish(static(name))

    class Run(Base):
        def get(self) -> None:
            known = self.get_query_argument("version", "")
            version = getattr(server.source, "version", None)
            if known and version is not None and known == str(version()):
                self.send_json({"format": FORMAT, "unchanged": True, "version": known})
                return
            data = dict(server.source.run())
            data["format"] = FORMAT
            self.send_json(data)

    class Frame(Base):
        def get(self) -> None:
            epoch_arg = self.get_query_argument("epoch", "")
            try:
                epoch = int(epoch_arg) if epoch_arg not in ("", "latest") else None
                row = int(self.get_query_argument("row", "0"))
            except ValueError:
                raise tornado.web.HTTPError(400, "epoch and row must be integers") from None
            source = server.source
            self.send_json(
                source.frame_json(epoch, row)
                if hasattr(source, "frame_json")
                else source.frame(epoch, row)
            )

    return [
        (r"/", Page),
        (r"/static/([A-Za-z.]+)", Static),
        (r"/api/run", Run),
        (r"/api/frame", Frame),
    ]
