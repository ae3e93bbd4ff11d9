//! Tests of the parent module.

use super::*;

fn check(text: &str, expected: Result<ClientMessage, &str>) {
    match (parse_client_message(text), expected) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
        (Err(err), Err(want)) => assert!(err.to_string().contains(want), "{text}: {err}"),
        (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
    }
}

fn subscribe(channel: &str, auth: Option<&str>, channel_data: Option<&str>) -> ClientMessage {
    ClientMessage::Subscribe {
        channel: channel.into(),
        auth: auth.map(Into::into),
        channel_data: channel_data.map(Into::into),
        resume_after: None,
    }
}

#[test]
fn subscribe_carries_the_resume_position() {
    let text = r#"{"event":"pusher:subscribe","data":{"channel":"c","resume_after":"ab12:7"}}"#;
    let Ok(ClientMessage::Subscribe { resume_after, .. }) = parse_client_message(text) else {
        panic!("not a subscribe");
    };
    assert_eq!(resume_after.as_deref(), Some("ab12:7"));
    check(
        r#"{"event":"pusher:subscribe","data":{"channel":"c","resume_after":7}}"#,
        Err("resume_after"),
    );
}

#[test]
fn positioned_frames_keep_the_pusher_fields() {
    let frame = channel_event("e", "c", "{\"a\":1}");
    let positioned = with_position(&frame, "ab12:7");
    let value: serde_json::Value = serde_json::from_str(&positioned).unwrap();
    assert_eq!(value["position"], "ab12:7");
    assert_eq!(value["event"], "e");
    assert_eq!(value["data"], "{\"a\":1}");
}

#[test]
fn parses_pusher_events() {
    check(
        r#"{"event":"pusher:ping","data":{}}"#,
        Ok(ClientMessage::Ping),
    );
    check(r#"{"event":"pusher:ping"}"#, Ok(ClientMessage::Ping));
    check(
        r#"{"event":"pusher:pong","data":"{}"}"#,
        Ok(ClientMessage::Pong),
    );
    check(
        r#"{"event":"pusher:subscribe","data":{"channel":"my-channel","auth":""}}"#,
        Ok(subscribe("my-channel", Some(""), None)),
    );
    check(
        r#"{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":1}"}}"#,
        Ok(subscribe(
            "presence-a",
            Some("k:s"),
            Some(r#"{"user_id":1}"#),
        )),
    );
    check(
        r#"{"event":"pusher:subscribe","data":"{\"channel\":\"a\"}"}"#,
        Ok(subscribe("a", None, None)),
    );
    check(
        r#"{"event":"pusher:unsubscribe","data":{"channel":"a"}}"#,
        Ok(ClientMessage::Unsubscribe {
            channel: "a".into(),
        }),
    );
    check(
        r#"{"event":"pusher:signin","data":{"auth":"k:s","user_data":"{\"id\":\"1\"}"}}"#,
        Ok(ClientMessage::Signin {
            auth: "k:s".into(),
            user_data: r#"{"id":"1"}"#.into(),
        }),
    );
}

#[test]
fn parses_client_events_with_raw_data() {
    let msg = parse_client_message(
        r#"{"event":"client-typing","channel":"private-a","data":{"typing":true}}"#,
    )
    .unwrap();
    match msg {
        ClientMessage::ClientEvent {
            event,
            channel,
            data,
        } => {
            assert_eq!(event, "client-typing");
            assert_eq!(channel, "private-a");
            assert_eq!(data.get(), r#"{"typing":true}"#);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn refuses_malformed_frames() {
    check("not json", Err("not a JSON object"));
    check("[1,2]", Err("not a JSON object"));
    check(r#"{"data":{}}"#, Err("no 'event'"));
    check(r#"{"event":5}"#, Err("no 'event'"));
    check(
        r#"{"event":"pusher:subscribe"}"#,
        Err("needs a 'data' object"),
    );
    check(
        r#"{"event":"pusher:subscribe","data":5}"#,
        Err("needs a 'data' object"),
    );
    check(
        r#"{"event":"pusher:subscribe","data":{}}"#,
        Err("'channel' to be a string"),
    );
    check(
        r#"{"event":"pusher:subscribe","data":{"channel":7}}"#,
        Err("'channel' to be a string"),
    );
    check(
        r#"{"event":"pusher:subscribe","data":{"channel":"a","channel_data":{}}}"#,
        Err("'channel_data' to be a string"),
    );
    check(
        r#"{"event":"pusher:foo","data":{}}"#,
        Err("unknown event 'pusher:foo'"),
    );
    check(
        r#"{"event":"client-x","data":{}}"#,
        Err("needs a 'channel'"),
    );
    check(
        r#"{"event":"hello","channel":"a"}"#,
        Err("must start with 'client-'"),
    );
    check(r#"{"event":"hello"}"#, Err("unknown event 'hello'"));
}

#[test]
fn builds_frames() {
    assert_eq!(
        connection_established("1.2", 120),
        r#"{"event":"pusher:connection_established","data":"{\"activity_timeout\":120,\"socket_id\":\"1.2\"}"}"#
    );
    assert_eq!(
        subscription_succeeded("a"),
        r#"{"event":"pusher_internal:subscription_succeeded","channel":"a","data":"{}"}"#
    );
    assert_eq!(
        error(Some(ErrorCode::AppNotFound), "no app", None),
        r#"{"event":"pusher:error","data":{"code":4001,"message":"no app"}}"#
    );
    assert_eq!(
        error(None, "bad", Some("a")),
        r#"{"event":"pusher:error","channel":"a","data":{"code":null,"message":"bad"}}"#
    );
    assert_eq!(
        channel_event("stats.updated", "a", r#"{"x":1}"#),
        r#"{"event":"stats.updated","channel":"a","data":"{\"x\":1}"}"#
    );
    let raw = RawValue::from_string(r#"{"t":1}"#.into()).unwrap();
    assert_eq!(
        client_event("client-t", "presence-a", &raw, Some("42")),
        r#"{"event":"client-t","channel":"presence-a","data":{"t":1},"user_id":"42"}"#
    );
    assert_eq!(
        watchlist_events(&[WatchlistEvent {
            name: "online",
            user_ids: vec!["7"]
        }]),
        r#"{"event":"pusher_internal:watchlist_events","data":{"events":[{"name":"online","user_ids":["7"]}]}}"#
    );
    assert_eq!(
        signin_success(r#"{"id":"1"}"#),
        r#"{"event":"pusher:signin_success","data":{"user_data":"{\"id\":\"1\"}"}}"#
    );
    assert_eq!(
        subscription_count("a", 3),
        r#"{"event":"pusher_internal:subscription_count","channel":"a","data":"{\"subscription_count\":3}"}"#
    );
    let members = vec![
        ("42".to_string(), Some(serde_json::json!({"name": "Ann"}))),
        ("7".to_string(), None),
    ];
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&presence_data(&members)).unwrap(),
        serde_json::json!({"presence": {"ids": ["42", "7"], "hash": {"42": {"name": "Ann"}, "7": null}, "count": 2}})
    );
    let info = RawValue::from_string(r#"{"name":"Ann"}"#.into()).unwrap();
    assert_eq!(
        member_added("presence-a", "42", Some(&info)),
        r#"{"event":"pusher_internal:member_added","channel":"presence-a","data":"{\"user_id\":\"42\",\"user_info\":{\"name\":\"Ann\"}}"}"#
    );
}
