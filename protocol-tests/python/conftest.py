"""Harness for the Python protocol tests: starts the sockwave binary with a TOML config."""
import hashlib
import hmac
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
import websocket

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("SOCKWAVE_BIN") or str(REPO_ROOT / "target" / "debug" / "sockwave")

# The Python SDK only accepts numeric app ids.
DEFAULT_APP = {
    "id": "1001",
    "key": "app-key",
    "secret": "app-secret",
    "enabled": True,
    "enable_client_messages": False,
}


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    raise TypeError(f"cannot encode {type(v)} as TOML")


def to_toml(server, apps):
    lines = ["[server]"] + [f"{k} = {_toml_value(v)}" for k, v in server.items()]
    for app in apps:
        lines += ["", "[[apps]]"] + [f"{k} = {_toml_value(v)}" for k, v in app.items()]
    return "\n".join(lines) + "\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, apps=None, server=None, env=None, args=None, ready_timeout=10.0):
        if not os.path.exists(BIN):
            raise RuntimeError(f"sockwave binary not found at {BIN}: run cargo build or set SOCKWAVE_BIN")
        self.port = free_port()
        self.apps = apps or [DEFAULT_APP]
        self.dir = tempfile.mkdtemp(prefix="sockwave-pytest-")
        self.config = os.path.join(self.dir, "sockwave.toml")
        with open(self.config, "w") as f:
            f.write(to_toml({"host": "127.0.0.1", "port": self.port, **(server or {})}, self.apps))
        self.log_path = os.path.join(self.dir, "output.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [BIN, "--config", self.config, "--host", "127.0.0.1", "--port", str(self.port), *(args or [])],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sockwave exited early ({self.proc.returncode}):\n{self.logs()}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/up", timeout=0.5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sockwave not ready after {ready_timeout}s:\n{self.logs()}")
            time.sleep(0.05)

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def ws_url(self, key="app-key"):
        return f"ws://127.0.0.1:{self.port}/app/{key}?protocol=7&client=python&version=1.0&flash=false"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._log.close()


class RawWs:
    """Raw Pusher-protocol websocket client; a reader thread collects every frame."""

    def __init__(self, url, timeout=5.0):
        self.ws = websocket.create_connection(url, timeout=timeout)
        self.frames = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        first = self.next(lambda f: True, timeout)
        assert first["event"] == "pusher:connection_established", first
        self.socket_id = first["data"]["socket_id"]

    def _read(self):
        while True:
            try:
                text = self.ws.recv()
            except Exception:
                break
            if not text:
                break
            msg = json.loads(text)
            data = msg.get("data")
            if isinstance(data, str):
                try:
                    msg["data"] = json.loads(data)
                except ValueError:
                    pass
            msg["_raw_data"] = data
            msg["_consumed"] = False
            with self.cond:
                self.frames.append(msg)
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def next(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for f in self.frames:
                    if not f["_consumed"] and pred(f):
                        f["_consumed"] = True
                        return f
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    raise AssertionError(f"no matching frame within {timeout}s; frames: {self.frames}")
                self.cond.wait(remaining)

    def next_event(self, event, channel=None, timeout=5.0):
        return self.next(lambda f: f.get("event") == event and (channel is None or f.get("channel") == channel), timeout)

    def pending(self, pred):
        with self.cond:
            return [f for f in self.frames if not f["_consumed"] and pred(f)]

    def send(self, obj):
        self.ws.send(json.dumps(obj))

    def subscribe(self, channel, **extra):
        self.send({"event": "pusher:subscribe", "data": {"channel": channel, "auth": "", **extra}})
        f = self.next(
            lambda fr: fr.get("channel") == channel
            and fr.get("event") in ("pusher_internal:subscription_succeeded", "pusher:subscription_error")
            or fr.get("event") == "pusher:error"
        )
        assert f["event"] == "pusher_internal:subscription_succeeded", f
        return f

    def subscribe_presence(self, channel, client, user_id, user_info=None):
        custom = {"user_id": user_id}
        if user_info is not None:
            custom["user_info"] = user_info
        auth = client.authenticate(channel=channel, socket_id=self.socket_id, custom_data=custom)
        return self.subscribe(channel, **auth)

    def subscribe_private(self, channel, app=DEFAULT_APP):
        sig = hmac.new(app["secret"].encode(), f"{self.socket_id}:{channel}".encode(), hashlib.sha256).hexdigest()
        return self.subscribe(channel, auth=f"{app['key']}:{sig}")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    srv.stop()


@pytest.fixture
def ws_factory(server):
    clients = []

    def make(key="app-key"):
        c = RawWs(server.ws_url(key))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()
