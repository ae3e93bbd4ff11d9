"""HTTP API through the official Python `pusher` SDK."""
import itertools
import json
import time

import pusher
import pytest
from pusher.errors import PusherBadAuth, PusherBadRequest

from conftest import DEFAULT_APP

_seq = itertools.count()


def fresh(prefix=""):
    return f"{prefix}py-ch.{next(_seq)}"


@pytest.fixture
def client(server):
    return pusher.Pusher(
        app_id=DEFAULT_APP["id"],
        key=DEFAULT_APP["key"],
        secret=DEFAULT_APP["secret"],
        host="127.0.0.1",
        port=server.port,
        ssl=False,
        timeout=10,
    )


def test_trigger_one_channel(client, ws_factory):
    ch = fresh()
    ws = ws_factory()
    ws.subscribe(ch)
    res = client.trigger(ch, "stats.updated", {"cpu": 12})
    assert isinstance(res, dict)
    f = ws.next_event("stats.updated", ch)
    assert f["data"] == {"cpu": 12}
    assert isinstance(f["_raw_data"], str)


def test_trigger_several_channels(client, ws_factory):
    ch1, ch2 = fresh(), fresh()
    ws = ws_factory()
    ws.subscribe(ch1)
    ws.subscribe(ch2)
    client.trigger([ch1, ch2], "multi", {"m": 1})
    assert ws.next_event("multi", ch1)["data"] == {"m": 1}
    assert ws.next_event("multi", ch2)["data"] == {"m": 1}


def test_trigger_batch(client, ws_factory):
    ch = fresh()
    ws = ws_factory()
    ws.subscribe(ch)
    client.trigger_batch([{"channel": ch, "name": f"b{i}", "data": {"i": i}} for i in range(10)])
    for i in range(10):
        assert ws.next_event(f"b{i}", ch)["data"] == {"i": i}


def test_trigger_batch_of_11_is_bad_request(client):
    with pytest.raises(PusherBadRequest):
        client.trigger_batch([{"channel": "x", "name": f"b{i}", "data": {}} for i in range(11)])


def test_socket_id_exclusion(client, ws_factory):
    ch = fresh()
    a, b = ws_factory(), ws_factory()
    a.subscribe(ch)
    b.subscribe(ch)
    client.trigger(ch, "to-others", {"x": 1}, socket_id=a.socket_id)
    b.next_event("to-others", ch)
    # Fixed wait: asserting the excluded socket does NOT receive the event.
    time.sleep(0.3)
    assert a.pending(lambda f: f.get("event") == "to-others") == []


def test_channels_info(client, ws_factory):
    pub, pres = fresh("pyinfo-"), fresh("presence-pyinfo-")
    ws = ws_factory()
    ws.subscribe(pub)
    ws.subscribe_presence(pres, client, "u1")
    other = ws_factory()
    other.subscribe_presence(pres, client, "u2")
    listed = client.channels_info(prefix_filter="pyinfo-")
    assert list(listed["channels"].keys()) == [pub]
    counted = client.channels_info(prefix_filter="presence-pyinfo-", attributes=["user_count"])
    assert counted["channels"][pres]["user_count"] == 2


def test_channel_info(client, ws_factory):
    ch = fresh()
    a, b = ws_factory(), ws_factory()
    a.subscribe(ch)
    b.subscribe(ch)
    info = client.channel_info(ch, attributes=["subscription_count"])
    assert info["occupied"] is True
    assert info["subscription_count"] == 2
    assert client.channel_info(fresh())["occupied"] is False


def test_channel_info_presence_user_count(client, ws_factory):
    pres = fresh("presence-")
    a, b = ws_factory(), ws_factory()
    a.subscribe_presence(pres, client, 5)
    b.subscribe_presence(pres, client, 5)
    info = client.channel_info(pres, attributes=["user_count"])
    assert info["occupied"] is True
    assert info["user_count"] == 1


def test_users_info(client, ws_factory):
    pres = fresh("presence-")
    for uid in ["1", "2", "2"]:
        ws_factory().subscribe_presence(pres, client, uid, {"n": uid})
    users = client.users_info(pres)
    assert sorted(u["id"] for u in users["users"]) == ["1", "2"]


def test_users_info_on_public_channel_is_bad_request(client, ws_factory):
    ch = fresh()
    ws_factory().subscribe(ch)
    with pytest.raises(PusherBadRequest):
        client.users_info(ch)


def test_wrong_secret_raises_auth_error(server):
    bad = pusher.Pusher(app_id=DEFAULT_APP["id"], key=DEFAULT_APP["key"], secret="wrong", host="127.0.0.1", port=server.port, ssl=False)
    with pytest.raises(PusherBadAuth) as exc:
        bad.trigger("x", "e", {})
    body = json.loads(str(exc.value))
    assert "signature" in body["error"].lower()
    with pytest.raises(PusherBadAuth):
        bad.channels_info()


def test_presence_numeric_and_string_ids_via_python_auth(client, ws_factory):
    pres = fresh("presence-")
    a, b = ws_factory(), ws_factory()
    ok = a.subscribe_presence(pres, client, 42, {"name": "Ann"})
    assert [str(i) for i in ok["data"]["presence"]["ids"]] == ["42"]
    ok2 = b.subscribe_presence(pres, client, "bo", {"name": "Bo"})
    assert ok2["data"]["presence"]["count"] == 2
    added = a.next_event("pusher_internal:member_added", pres)
    assert str(added["data"]["user_id"]) == "bo"
