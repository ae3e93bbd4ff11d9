//! Finding 4: a signed-in user joining a presence channel without `channel_data` skipped the
//! member limits: a 1,000-character id and 100 KB of `user_info` were accepted and a 101 KB
//! `member_added` went to every member.

use serde_json::json;

use crate::process::{free_port, Server, Setup};
use crate::ws::Client;

async fn presence_server() -> Server {
    let setup = Setup {
        app: "max_presence_members = 2".into(),
        ..Setup::default()
    };
    Server::launch(free_port(), setup).await
}

/// The reason a refused join gives, from either error shape.
fn refusal(frame: &serde_json::Value) -> String {
    assert_ne!(
        frame["event"], "pusher_internal:subscription_succeeded",
        "the join was accepted: {frame}"
    );
    frame.to_string()
}

#[tokio::test]
async fn a_signed_in_member_is_held_to_the_id_and_info_limits() {
    let server = presence_server().await;
    let mut member = Client::connect(server.addr).await;
    let signed_in = member.sign_in(r#"{"id":"ann"}"#).await;
    assert_eq!(signed_in["event"], "pusher:signin_success", "{signed_in}");
    let joined = member.join_signed_in("presence-room").await;
    assert_eq!(
        joined["event"], "pusher_internal:subscription_succeeded",
        "{joined}"
    );

    let mut long_id = Client::connect(server.addr).await;
    let user_data = json!({"id": "i".repeat(1000)}).to_string();
    assert_eq!(
        long_id.sign_in(&user_data).await["event"],
        "pusher:signin_success"
    );
    let answer = refusal(&long_id.join_signed_in("presence-room").await);
    assert!(
        answer.contains("user_id is longer than 128 characters"),
        "{answer}"
    );

    let mut big_info = Client::connect(server.addr).await;
    let user_data = json!({"id": "bob", "user_info": {"bio": "b".repeat(100 * 1024)}}).to_string();
    assert_eq!(
        big_info.sign_in(&user_data).await["event"],
        "pusher:signin_success"
    );
    let answer = refusal(&big_info.join_signed_in("presence-room").await);
    assert!(
        answer.contains("the limit for a presence member is 2048"),
        "{answer}"
    );

    // Neither reached the member already there: the next thing it sees is a valid join.
    let mut second = Client::connect(server.addr).await;
    second.sign_in(r#"{"id":"cy"}"#).await;
    assert_eq!(
        second.join_signed_in("presence-room").await["event"],
        "pusher_internal:subscription_succeeded"
    );
    let added = member.next_event("pusher_internal:member_added").await;
    assert!(added["data"].to_string().len() < 200, "{added}");
    assert!(
        added["data"].as_str().unwrap().contains("\"cy\""),
        "{added}"
    );

    // The member count limit holds on this path too.
    let mut third = Client::connect(server.addr).await;
    third.sign_in(r#"{"id":"dee"}"#).await;
    let answer = refusal(&third.join_signed_in("presence-room").await);
    assert!(answer.contains("is full"), "{answer}");
}
