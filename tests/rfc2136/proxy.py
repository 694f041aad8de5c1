"""A TCP proxy in front of a primary that can hold an update in flight, drop it, or refuse everything.

The kill -9 tests use it to land SIGKILL exactly while dnsctl's update is on its way to the server."""

from __future__ import annotations

import contextlib
import socket
import threading


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _recv_message(sock: socket.socket) -> bytes:
    size = int.from_bytes(_recv_exact(sock, 2), "big")
    return _recv_exact(sock, size)


def _send_message(sock: socket.socket, msg: bytes) -> None:
    sock.sendall(len(msg).to_bytes(2, "big") + msg)


UPDATE_OPCODE = 5


class HoldingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self.hold_updates = False
        self.arrived = threading.Event()  # an update is being held
        self.release = threading.Event()
        self.drop = False  # a held update is thrown away instead of forwarded
        self.forwarded = threading.Event()  # the held update was answered by the server
        self.down = False  # close every connection at once (the server unreachable)
        self.refused = 0
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                self.refused += 1
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with (
            conn,
            socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as up,
            contextlib.suppress(OSError, ConnectionError),
        ):
            while True:
                msg = _recv_message(conn)
                held = self.hold_updates and (msg[2] >> 3) & 0xF == UPDATE_OPCODE
                if held:
                    self.arrived.set()
                    self.release.wait(60)
                    if self.drop:
                        return
                _send_message(up, msg)
                answer = _recv_message(up)
                if held:
                    self.forwarded.set()
                _send_message(conn, answer)

    def close(self) -> None:
        self._closing = True
        self.release.set()
        self.listener.close()
