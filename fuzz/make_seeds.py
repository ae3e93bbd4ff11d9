#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from frames, requests and files the
protocol and integration tests use (tests/integration/*.rs, protocol-tests/test/*.js).
Run from anywhere; existing seed files are overwritten, fuzzer-found inputs are kept."""
import hashlib, json, os, pathlib

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"

def write(target, items):
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    for item in items:
        data = item if isinstance(item, bytes) else item.encode()
        name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
        (folder / name).write_bytes(data)

j = lambda v: json.dumps(v, separators=(",", ":"))
sub = lambda ch, **extra: j({"event": "pusher:subscribe", "data": {"channel": ch, **extra}})
presence_data = j({"user_id": "42", "user_info": {"name": "Ann"}})

client_frames = [
    j({"event": "pusher:ping", "data": {}}),
    j({"event": "pusher:pong", "data": {}}),
    sub("my-channel"),
    sub("cache-prices"),
    sub("private-orders", auth="sign"),
    sub("private-encrypted-x", auth="sign"),
    sub("presence-room", auth="sign", channel_data=presence_data),
    sub("presence-room", auth="sign", channel_data=j({"user_id": 7})),
    sub("presence-room", auth="sign"),
    sub("private-orders", auth="app-key:00"),
    sub("#server-to-user-42"),
    j({"event": "pusher:unsubscribe", "data": {"channel": "presence-room"}}),
    j({"event": "pusher:signin", "data": {"auth": "sign", "user_data": j({"id": "42", "watchlist": ["7", "8"]})}}),
    j({"event": "client-typing", "channel": "private-orders", "data": {"x": 1}}),
    j({"event": "client-typing", "channel": "presence-room", "data": "hi"}),
    # From tests/integration/connection.rs and protocol-tests/test/malformed.test.js.
    "not json", "hello there", "[1,2,3]", '"pusher:ping"',
    j({"data": {}}), j({"event": 42, "data": {}}), j({"event": "pusher:subscribe"}),
    j({"event": "pusher:subscribe", "data": "my-channel"}),
    j({"event": "pusher:subscribe", "data": {"channel": 5}}),
    j({"event": "pusher:foo", "data": {}}), j({"event": "client-x", "data": {}}),
    j({"event": "pusher_internal:subscription_succeeded", "channel": "x", "data": "{}"}),
]
sessions = [
    "\n".join([sub("presence-room", auth="sign", channel_data=presence_data),
               j({"event": "client-hi", "channel": "presence-room", "data": {}}),
               j({"event": "pusher:unsubscribe", "data": {"channel": "presence-room"}})]),
    "\n".join([client_frames[12], sub("#server-to-user-42"), sub("presence-a", auth="sign"),
               sub("presence-a", auth="sign"), sub("private-x", auth="sign")]),
    "\n".join([sub("a"), sub("b"), sub("cache-c"), j({"event": "pusher:unsubscribe", "data": {"channel": "a"}})]),
]
write("client_message", client_frames + sessions)

# The first byte is the length limit minus one (0xc7 = 200).
write("channel_name", [b"\xc7" + name.encode() for name in [
    "my-channel", "private-orders", "private-encrypted-x", "presence-room.1",
    "a_b-c=d@e,f.g;h", "foo bar", "#server-to-user-1", "private-cache-a",
    "protocol=7&client=js&version=8.4.0&flash=false", "123.456", "007.1",
]])

body = j({"name": "my-event", "channel": "my-channel", "data": j({"some": "data"})})
doc_body = j({"name": "foo", "channels": ["project-3"], "data": j({"some": "data"})})
signed = "auth_key=fuzz-key&auth_timestamp=now&auth_version=1.0&body_md5=sign&auth_signature=sign"
write("api_request", [
    "\x00/apps/fuzz-app/events?" + signed + "\n" + body,
    "\x00/apps/fuzz-app/events?" + signed + "\n" + doc_body,
    "\x00/apps/fuzz-app/batch_events?" + signed + "\n" + j({"batch": [json.loads(body), json.loads(body)]}),
    "\x00/apps/fuzz-app/events?" + signed + "\n" + j({"name": "e", "channels": ["a", "presence-b"], "data": "x", "socket_id": "1.2", "info": "user_count,subscription_count"}),
    "\x01/apps/fuzz-app/channels?auth_key=fuzz-key&auth_timestamp=now&auth_version=1.0&auth_signature=sign&filter_by_prefix=presence-&info=user_count\n",
    "\x00/apps/3/events?auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c\n" + doc_body,
    "\x00/apps/fuzz-app/events?auth_key=fuzz-key&auth_timestamp=1&auth_version=1.0&body_md5=00&auth_signature=00\n" + body,
])

toml_files = [
    '[server]\nport = 6001\nactivity_timeout = 30\ncors_allowed_origins = ["https://a.test"]\nmax_ws_message_kb = 64\n'
    'handshake_timeout = 5\nmax_header_kb = 16\nmax_ws_messages_per_second = 50\nws_message_burst = 100\n\n'
    '[[apps]]\nid = "app-id"\nkey = "app-key"\nsecret = "app-secret"\nenable_client_messages = true\n'
    'max_connections = "unlimited"\nmax_presence_member_size_kb = 0.5\n\n'
    '[[apps.webhooks]]\nurl = "http://127.0.0.1:9/hook"\nevent_types = ["channel_occupied", "member_added"]\n',
    '[server]\npath_prefix = "/ws"\nsubscription_error_mode = "pusher"\n[[apps]]\nid = "a"\nkey = "k"\nsecret = "s"\n'
    'authorized_connections_timeout = 10\n[[apps]]\nid = "b"\nkey = "k2"\nsecret = "t"\n',
    '[server]\nmax_ws_message_kb = 0.5\n',
]
write("config_toml", toml_files)

write("config_soketi_json", [
    j({"debug": True, "port": 6001, "appManager.array.apps": [{"id": "app-id", "key": "app-key", "secret": "app-secret",
       "enableClientMessages": True, "maxConnections": -1, "webhooks": [{"url": "http://127.0.0.1:9/h", "event_types": ["channel_vacated"]}]}]}),
    j({"appManager": {"driver": "array", "array": {"apps": [{"id": "1", "key": "k", "secret": "s", "maxClientEventsPerSecond": 5}]}},
       "presence": {"maxMembersPerChannel": 50}, "channelLimits": {"maxNameLength": 100}, "eventLimits": {"maxChannelsAtOnce": 10}}),
    j({"adapter": {"driver": "redis"}, "database": {"redis": {"host": "127.0.0.1", "port": 6379}}}),
])

enc = lambda msg: j({"v": 1, "node": "n2", **msg})
write("node_message", [
    enc({"type": "heartbeat", "connections": {"fuzz-app": 3}}),
    enc({"type": "hello"}),
    enc({"type": "goodbye"}),
    enc({"type": "snapshot", "apps": {"fuzz-app": {"connections": 2, "channels": {"presence-room": 2, "a": 1},
         "presence": {"presence-room": {"42": {"name": "Ann"}, "7": None}}, "users": ["42"]}}}),
    enc({"type": "broadcast", "app": "fuzz-app", "channel": "a", "frame": j({"event": "e", "channel": "a", "data": "{}"}), "except": "1.2"}),
    enc({"type": "broadcast", "app": "fuzz-app", "channel": "cache-a", "frame": "{}", "cache": {"event": "e", "data": "d", "ttl_secs": 60}}),
    enc({"type": "to_user", "app": "fuzz-app", "user_id": "42", "frame": "{}"}),
    enc({"type": "terminate", "app": "fuzz-app", "user_id": "42"}),
    enc({"type": "delta", "app": "fuzz-app", "changes": [
        {"kind": "count", "channel": "presence-room", "count": 2},
        {"kind": "member_joined", "channel": "presence-room", "user_id": "42", "user_info": {"n": 1}},
        {"kind": "member_left", "channel": "presence-room", "user_id": "42"},
        {"kind": "user_online", "user_id": "42"}, {"kind": "user_offline", "user_id": "42"},
        {"kind": "count", "channel": "presence-room", "count": 0}]}),
    j({"v": 2, "node": "n", "type": "hello"}),
])

# Client WebSocket frames after a 3-byte prefix: where the first read ends (2 bytes,
# big-endian) and the size minus one of the later reads.
def ws(first_byte, payload, mask=b"\x37\xfa\x21\x3d"):
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big") if n < 65536 \
        else bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return bytes([first_byte]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

FIN, CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x80, 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
ping_frame = ws(FIN | TEXT, client_frames[0].encode())
write("websocket_decode", [
    b"\x00\x03\x00" + ping_frame,
    b"\x00\x0a\x05" + ping_frame + ws(FIN | TEXT, client_frames[2].encode(), b"\x00\x00\x00\x00")
        + ws(FIN | PING, b"hi") + ws(FIN | PONG, b"") + ws(FIN | BINARY, bytes(range(40))),
    # "é" straddles the fragments, with a ping between them.
    b"\x00\x14\x01" + ws(TEXT, b"caf\xc3") + ws(FIN | PING, b"") + ws(CONT, b"\xa9 ")
        + ws(FIN | CONT, b"au lait"),
    b"\x00\x04\x02" + ws(FIN | CLOSE, b"\x03\xe8bye"),
    b"\x00\x00\x00" + ws(FIN | CLOSE, b""),
    b"\x00\x05\x3e" + ws(FIN | TEXT, b"x" * 300) + ws(FIN | BINARY, b"\x00" * 4096),
    # Over the limit: refused from the header.
    b"\x00\x08\x07" + ws(FIN | TEXT, b"y" * 4097),
    # A valid frame, then an unmasked one.
    b"\x00\x02\x03" + ws(FIN | TEXT, b"ok") + b"\x81\x02ok",
])
