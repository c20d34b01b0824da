"""A TCP forwarder for tests: put it between a client and a real server, then cut it to
simulate a network outage (connections refused, open ones reset)."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.running:
                client.close()
                return
            self._handle(client)

    def _handle(self, client: socket.socket) -> None:
        self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        self.conns += [client, upstream]
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        """Stop accepting and reset every open connection."""
        self.running = False
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.server.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass


class ToggleProxy(TcpProxy):
    """A proxy that can also hang (accept, then never forward: a stuck server) and be
    restored after a cut, keeping its port."""

    def __init__(self, target: tuple[str, int], start: str = "up", port: int = 0) -> None:
        self.mode = start  # before the accepting thread starts
        super().__init__(target, port)

    def _handle(self, client: socket.socket) -> None:
        if self.mode == "down":
            client.close()
        elif self.mode == "hang":
            self.conns.append(client)  # held open, never answered
        else:
            self._forward(client)

    def set(self, mode: str) -> None:
        """up | hang | down; open connections are reset on any change."""
        self.mode = mode
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.close()
        self.conns = []
