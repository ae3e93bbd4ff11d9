"""WebSocket protocol checks from Python (websocket-client), with presence auth signed by the Python SDK."""
import json
import re

import pusher
import websocket

from conftest import DEFAULT_APP


def read_until_close(url):
    """Returns (text frames, close code) for a connection the server is expected to refuse."""
    ws = websocket.create_connection(url, timeout=5)
    frames, code = [], None
    try:
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_TEXT:
                frames.append(json.loads(data))
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                break
    finally:
        ws.close()
    return frames, code


def test_connection_established(ws_factory):
    ws = ws_factory()
    assert re.match(r"^\d+\.\d+$", ws.socket_id)


def test_ping_pong(ws_factory):
    ws = ws_factory()
    ws.send({"event": "pusher:ping", "data": {}})
    pong = ws.next_event("pusher:pong")
    assert pong.get("data") in ({}, None)


def test_unknown_key_is_refused_with_4001(server):
    frames, code = read_until_close(server.ws_url("no-such-key"))
    assert frames and frames[0]["event"] == "pusher:error", frames
    data = frames[0]["data"]
    if isinstance(data, str):
        data = json.loads(data)
    assert data["code"] == 4001
    assert code == 4001


def test_presence_auth_from_python_sdk(server, ws_factory):
    client = pusher.Pusher(app_id=DEFAULT_APP["id"], key=DEFAULT_APP["key"], secret=DEFAULT_APP["secret"],
                           host="127.0.0.1", port=server.port, ssl=False)
    a, b = ws_factory(), ws_factory()
    a.subscribe_presence("presence-py-room", client, "ann", {"name": "Ann"})
    b.subscribe_presence("presence-py-room", client, "bo", {"name": "Bo"})
    added = a.next_event("pusher_internal:member_added", "presence-py-room")
    assert str(added["data"]["user_id"]) == "bo"
    assert added["data"]["user_info"] == {"name": "Bo"}
    b.close()
    removed = a.next_event("pusher_internal:member_removed", "presence-py-room")
    assert str(removed["data"]["user_id"]) == "bo"


def test_private_subscription_bad_signature(ws_factory):
    ws = ws_factory()
    ws.send({"event": "pusher:subscribe", "data": {"channel": "private-py", "auth": f"{DEFAULT_APP['key']}:{'0' * 64}"}})
    f = ws.next(lambda fr: fr.get("event") in ("pusher:subscription_error", "pusher:error", "pusher_internal:subscription_succeeded"))
    assert f["event"] == "pusher:subscription_error", f
    assert f["channel"] == "private-py"
    assert f["data"]["status"] == 401
