//! Presence: member lists, member_added/removed once per user, limits.

use serde_json::{json, Value};

use crate::support::*;

async fn join(client: &mut Client, channel: &str, channel_data: &str) -> Value {
    let auth = client.auth(channel, Some(channel_data));
    client
        .subscribe(channel, Some(auth), Some(channel_data))
        .await
}

fn presence_of(frame: &Value) -> Value {
    serde_json::from_str::<Value>(frame["data"].as_str().unwrap()).unwrap()["presence"].clone()
}

#[tokio::test]
async fn members_are_counted_per_user_not_per_socket() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let mut ann = connect(addr).await;
    let mut ann_tab2 = connect(addr).await;
    let mut bo = connect(addr).await;
    let ann_data = r#"{"user_id":42,"user_info":{"name":"Ann"}}"#;

    let first = join(&mut ann, "presence-room.1", ann_data).await;
    assert_eq!(
        presence_of(&first),
        json!({"ids": ["42"], "hash": {"42": {"name": "Ann"}}, "count": 1})
    );

    let bo_joined = join(
        &mut bo,
        "presence-room.1",
        r#"{"user_id":"7","user_info":{"name":"Bo"}}"#,
    )
    .await;
    assert_eq!(presence_of(&bo_joined)["count"], 2);
    let added = ann.expect_event("pusher_internal:member_added").await;
    let added: Value = serde_json::from_str(added["data"].as_str().unwrap()).unwrap();
    assert_eq!(added, json!({"user_id": "7", "user_info": {"name": "Bo"}}));

    // A second tab of Ann: no member_added for anybody.
    let tab2 = join(&mut ann_tab2, "presence-room.1", ann_data).await;
    assert_eq!(presence_of(&tab2)["count"], 2);
    bo.expect_silence(300).await;

    let (status, users) = ApiCall::new(
        "GET",
        &format!("/apps/{APP_ID}/channels/presence-room.1/users"),
        None,
    )
    .send(addr)
    .await;
    assert_eq!(status, 200);
    assert_eq!(users, json!({"users": [{"id": "42"}, {"id": "7"}]}));

    // Ann's first tab leaves: she is still there through tab 2.
    drop(ann);
    bo.expect_silence(300).await;
    // The last tab leaves: member_removed, once.
    ann_tab2
        .send(json!({"event": "pusher:unsubscribe", "data": {"channel": "presence-room.1"}}))
        .await;
    let removed = bo.expect_event("pusher_internal:member_removed").await;
    assert_eq!(
        serde_json::from_str::<Value>(removed["data"].as_str().unwrap()).unwrap(),
        json!({"user_id": "42"})
    );
    bo.expect_silence(300).await;
}

#[tokio::test]
async fn presence_refusals_name_the_problem() {
    let server = start(|c| {
        c.apps[0].limits.max_presence_members = 1;
        c.apps[0].limits.max_presence_member_size_bytes = 32;
    })
    .await;
    let mut a = connect(server.local_addr()).await;
    let mut b = connect(server.local_addr()).await;

    let missing = a
        .subscribe("presence-x", Some(a.auth("presence-x", None)), None)
        .await;
    assert!(
        missing["data"]["error"]
            .as_str()
            .unwrap()
            .contains("channel_data missing"),
        "{missing}"
    );

    let big = r#"{"user_id":1,"user_info":{"name":"a name that is far too long"}}"#;
    let refused = join(&mut a, "presence-x", big).await;
    assert_eq!(refused["data"]["type"], "LimitReached");

    join(&mut a, "presence-x", r#"{"user_id":1}"#).await;
    let full = join(&mut b, "presence-x", r#"{"user_id":2}"#).await;
    assert_eq!(full["data"]["type"], "LimitReached");
    assert!(full["data"]["error"].as_str().unwrap().contains("is full"));

    // The signature covers channel_data: a forged member is refused.
    let forged = b.auth("presence-y", Some(r#"{"user_id":1}"#));
    let refused = b
        .subscribe("presence-y", Some(forged), Some(r#"{"user_id":999}"#))
        .await;
    assert_eq!(refused["data"]["type"], "AuthError");
}
