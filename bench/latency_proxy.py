"""A loopback TCP proxy that adds a fixed delay each way and counts round trips.

A *round trip* is counted each time the client sends after the server has answered (or
sends first on a new connection): one request/response exchange. Used by the remote and
daemon benchmarks; it only ever listens on and connects to loopback.
"""

from __future__ import annotations

import asyncio
import threading
import time


class LatencyProxy:
    def __init__(self, target_port: int, delay_s: float = 0.0, host: str = "127.0.0.1"):
        self.target_port = target_port
        self.delay = delay_s
        self.host = host
        self.port = 0
        self.round_trips = 0
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._ready = threading.Event()

    def reset(self) -> None:
        self.round_trips = 0
        self.connections = 0

    def start(self) -> "LatencyProxy":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, client_r, client_w) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_w.close()
            return
        state = {"last": "server"}

        async def pipe(reader, writer, direction: str):
            queue: asyncio.Queue = asyncio.Queue()

            async def deliver():
                while True:
                    due, data = await queue.get()
                    if data is None:
                        break
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    try:
                        writer.write(data)
                        await writer.drain()
                    except (ConnectionError, OSError):
                        break
                try:
                    writer.close()
                except Exception:  # noqa: BLE001
                    pass

            task = asyncio.ensure_future(deliver())
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    if direction == "up" and state["last"] == "server":
                        self.round_trips += 1
                    state["last"] = "client" if direction == "up" else "server"
                    await queue.put((time.monotonic() + self.delay, data))
            except (ConnectionError, OSError):
                pass
            await queue.put((0, None))
            await task

        await asyncio.gather(pipe(client_r, server_w, "up"), pipe(server_r, client_w, "down"))
