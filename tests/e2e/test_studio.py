"""LangGraph Studio's local server (``langgraph dev``) serves the graph and runs it to a target."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.doubles.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
GRAPH_ID = "data_advisor"
AGENT_NODES = {"advisor", "generator", "critic", "contrast", "summarizer"}
TARGET = 3
STARTUP_SECONDS = 60.0
KEY_ENV = "DATA_ADVISOR_STUDIO_TEST_KEY"
KEY = "sk-studio-test-1a2b3c"
# What keeps ``langgraph dev`` off the network: no browser, no analytics, no version check, no traces.
OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def wait_until_up(client: httpx.Client, server: subprocess.Popen, log: Path) -> None:
    """Poll ``GET /ok`` until the server answers; fail with its log if it dies or never answers."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"langgraph dev exited with {server.returncode}:\n{log_tail(log)}")
        try:
            if client.get("/ok", timeout=2).json().get("ok") is True:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"langgraph dev did not answer /ok in {STARTUP_SECONDS:.0f} s:\n{log_tail(log)}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(server: subprocess.Popen) -> None:
    """Stop the server and every process it started (its multiprocessing resource tracker)."""
    # On SIGTERM the server finishes in-flight runs and its children exit after it; whatever is
    # still there after the grace period gets SIGKILL.
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        if not group_alive(server.pid):
            return
        os.killpg(server.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if server.poll() is not None and not group_alive(server.pid):
                return
            time.sleep(0.1)


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    """``langgraph dev`` on a free loopback port, in its own directory (it writes .langgraph_api/).

    Yields a client for its API and the path of its log.
    """
    cwd, log = tmp_path / "server", tmp_path / "server.log"
    cwd.mkdir()
    port = free_port()
    with open(log, "wb") as sink:  # a file, not a pipe: its log is chatty and nobody reads a pipe
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "langgraph_cli", "dev", "--no-browser"),
                # Without the reloader a server that fails to start exits (the reloader's
                # supervisor would keep running), and no file watcher or extra process is left.
                "--no-reload",
                *("--host", "127.0.0.1", "--port", str(port)),
                *("--config", str(REPO / "langgraph.json")),
            ],
            cwd=cwd,
            env={**os.environ, **OFFLINE_ENV, KEY_ENV: KEY},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    try:  # loopback only: never through a proxy named in the environment
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=60, trust_env=False
        ) as client:
            wait_until_up(client, server, log)
            yield client, log
    finally:
        stop(server)
    assert not group_alive(server.pid), "a process of the server outlived it"


def test_studio_server_runs_the_graph(studio: tuple[httpx.Client, Path], tmp_path: Path) -> None:
    client, log = studio
    assistants = client.post("/assistants/search", json={}).json()
    found = [a for a in assistants if a["graph_id"] == GRAPH_ID]
    assert found, f"{GRAPH_ID} not among {[a['graph_id'] for a in assistants]}"

    drawn = client.get(f"/assistants/{found[0]['assistant_id']}/graph").json()
    nodes = {node["id"] for node in drawn["nodes"]}
    assert nodes >= AGENT_NODES, f"graph nodes: {sorted(nodes)}"

    out = tmp_path / "run"
    # The fake checks the key: the run succeeds only if the server's environment carries it.
    with FakeOpenAIServer(api_key=KEY, models={"fake-model"}) as fake:
        context = {
            "out": str(out),
            "target": TARGET,
            "provider": "openai",
            "base_url": fake.base_url,
            "model": "fake-model",
            "api_key_env": KEY_ENV,
            "embedding_provider": "fake",
        }
        response = client.post(
            "/runs/wait", json={"assistant_id": GRAPH_ID, "input": {}, "context": context}
        )
    assert response.status_code == 200, response.text[:2000]
    final = response.json()
    # A failed run still answers 200, with the error in the body; the server hides the message of
    # most exception types ("An internal error occurred"), its log has the traceback.
    assert "__error__" not in final, f"{final['__error__']}\n{log_tail(log)}"
    assert final["accepted"] == TARGET and final["stop_reason"] == "target reached"
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == TARGET and len({r["id"] for r in rows}) == TARGET
    assert {r["model"] for r in rows} == {"fake-model"}

    # An error the user can fix comes back with the CLI's one-line message, not "internal error".
    empty = tmp_path / "empty_principles.md"
    empty.write_text("  \n")
    bad = {**context, "out": str(tmp_path / "bad"), "principles": str(empty)}
    failed = client.post(
        "/runs/wait", json={"assistant_id": GRAPH_ID, "input": {}, "context": bad}
    ).json()
    assert "empty_principles.md is empty" in json.dumps(failed.get("__error__")), failed
