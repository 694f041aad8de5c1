"""One registry-like replica as its own process, so that it can be killed (SIGKILL) or frozen (SIGSTOP).

    python bench/failover_lib/replica.py --host 127.0.0.2 --port P

`GET /v2/` answers 200 while up (a registry with anonymous pull; PowerDNS 4.7 counts only 200 as up,
so 401 would not do for a like-for-like comparison) and 503 while down. Commands on stdin, one a line,
each answered with one line:

    up | 503                      -> OK <mode>
    flaky <probability> <seed>    -> OK flaky: each prober (told apart by User-Agent) draws from its
                                     own generator seeded with <seed>: every prober gets the same
                                     sequence of failures, and one prober's traffic never shifts another's
    stats                         -> {"<user agent>": [requests, failed, first failure], ...} since the
                                     last mode change; the first failure's time is time.monotonic(),
                                     which on Linux is one clock for every process

It prints `READY <host> <port>` once listening, and exits when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time

MAX_HEAD = 16 * 1024
_BODY = {200: b'{"status":"up"}', 503: b'{"errors":[{"code":"UNAVAILABLE","message":"replica is down"}]}'}
_REASON = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}


class Replica:
    def __init__(self) -> None:
        self.mode = "up"
        self.probability = 0.0
        self.seed = 0
        self._rngs: dict[str, random.Random] = {}
        self.seen: dict[str, list[float | None]] = {}

    def command(self, line: str) -> str:
        words = line.split()
        if words == ["stats"]:
            return json.dumps(self.seen)
        if words in (["up"], ["503"]) or (len(words) == 3 and words[0] == "flaky"):
            self.mode = words[0]
            if self.mode == "flaky":
                self.probability, self.seed = float(words[1]), int(words[2])
            self._rngs.clear()
            self.seen = {}
            return f"OK {self.mode}"
        return f"ERROR unknown command {line!r}"

    def status(self, user_agent: str) -> int:
        requests, failures, first = self.seen.get(user_agent, [0, 0, None])
        failed = self.mode == "503"
        if self.mode == "flaky":
            rng = self._rngs.get(user_agent)
            if rng is None:
                rng = self._rngs[user_agent] = random.Random(self.seed)
            failed = rng.random() < self.probability
        if failed and first is None:
            first = time.monotonic()
        self.seen[user_agent] = [(requests or 0) + 1, (failures or 0) + failed, first]
        return 503 if failed else 200

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > MAX_HEAD:
                    return
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                fields = (ln.partition(":") for ln in lines if ln)
                headers = {k.strip().lower(): v.strip() for k, _, v in fields}
                status = self.status(headers.get("user-agent", "-")) if path == "/v2/" else 404
                body = _BODY.get(status, b"")
                close = headers.get("connection", "").lower() == "close"
                out = (
                    f"HTTP/1.1 {status} {_REASON[status]}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: {'close' if close else 'keep-alive'}\r\n\r\n"
                )
                writer.write(out.encode("latin-1") + (b"" if method == "HEAD" else body))
                await writer.drain()
                if close:
                    return
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a prober that gave up (timeout) or went away
        finally:
            writer.close()


async def run(host: str, port: int) -> None:
    replica = Replica()
    server = await asyncio.start_server(replica.serve, host, port, reuse_address=True)
    print(f"READY {host} {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        print(replica.command(line.strip()), flush=True)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
