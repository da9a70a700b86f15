"""A real Chroma server (``chroma run``, the CLI chromadb installs) on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import chromadb
from chromadb.config import Settings

# How long ``chroma run`` may take to answer its first heartbeat (~2 s on a quiet machine).
START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connect(url: str) -> chromadb.api.ClientAPI:
    """A client of the server at ``http://127.0.0.1:PORT``."""
    return chromadb.HttpClient(
        host="127.0.0.1",
        port=int(url.rsplit(":", 1)[1]),
        settings=Settings(anonymized_telemetry=False),
    )


class ChromaServer:
    """``with ChromaServer(data_dir) as server: server.url`` serves ``data_dir`` until the end."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ChromaServer:
        binary = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which(
            "chroma"
        )
        assert binary, "the chroma CLI (installed with chromadb) is missing"
        self.data.mkdir(parents=True, exist_ok=True)
        log = (self.data.parent / f"chroma-{self.port}.log").open("w")
        self._process = subprocess.Popen(
            [
                binary,
                "run",
                "--path",
                str(self.data),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child holds its own descriptor
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                connect(self.url).heartbeat()
                return self
            except Exception:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(
                        f"chroma run did not answer within {START_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(0.3)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=20)
