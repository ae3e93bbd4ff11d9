//! Leak invariants over real sockets: after clients of every kind come and go, normally or
//! abruptly, the registry, the user index and the cluster view are empty again, and the HTTP
//! API says so too.

use sockwave::app::AppId;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sockwave_protocol::auth::signature::sign;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

async fn sign_in(client: &mut Client, user_data: &str) {
    let signature = sign(
        SECRET,
        format!("{}::user::{user_data}", client.socket_id).as_bytes(),
    );
    client
        .send(json!({"event": "pusher:signin", "data": {"auth": format!("{KEY}:{signature}"), "user_data": user_data}}))
        .await;
    client.expect_event("pusher:signin_success").await;
}

async fn join_everything(client: &mut Client, user: &str) {
    for channel in ["public-1", "cache-2"] {
        let ok = client.subscribe(channel, None, None).await;
        assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    }
    for channel in ["private-3", "private-encrypted-4"] {
        let auth = client.auth(channel, None);
        let ok = client.subscribe(channel, Some(auth), None).await;
        assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    }
    let data = json!({"user_id": user, "user_info": {"name": user}}).to_string();
    let auth = client.auth("presence-5", Some(&data));
    let ok = client
        .subscribe("presence-5", Some(auth), Some(&data))
        .await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    sign_in(
        client,
        &json!({"id": user, "watchlist": ["u1", "u2", "u9"]}).to_string(),
    )
    .await;
    let ok = client
        .subscribe(&format!("#server-to-user-{user}"), None, None)
        .await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
}

#[tokio::test]
async fn registries_are_empty_after_every_kind_of_departure() {
    let server = start(|c| c.apps[0].enable_client_messages = true).await;
    let addr = server.local_addr();
    let ctx = server.context().clone();

    // Two users with two tabs each, one guest; all in every kind of channel.
    let mut clients = Vec::new();
    for user in ["u1", "u1", "u2", "u2", "u3"] {
        let mut client = connect(addr).await;
        join_everything(&mut client, user).await;
        clients.push(client);
    }
    let registry = ctx.registry.app(&AppId::from(APP_ID));
    assert_eq!(registry.connection_count(), 5);
    assert_eq!(registry.channel_count(), 5);
    assert_eq!(registry.users.n_online(), 3);
    let (_, channels) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels"), None)
        .send(addr)
        .await;
    assert_eq!(
        channels["channels"].as_object().unwrap().len(),
        5,
        "{channels}"
    );

    // Traffic while they are there, so queues hold something when sockets go.
    publish(addr, "public-1", "e", "{}", None).await;
    clients[0]
        .send(json!({"event": "client-x", "channel": "presence-5", "data": {}}))
        .await;

    // Leave in every way: unsubscribe everything, close frame, FIN, RST, and one that
    // unsubscribes half and then drops.
    let mut clients = clients.into_iter();
    let mut tidy = clients.next().unwrap();
    for channel in [
        "public-1",
        "cache-2",
        "private-3",
        "private-encrypted-4",
        "presence-5",
    ] {
        tidy.send(json!({"event": "pusher:unsubscribe", "data": {"channel": channel}}))
            .await;
    }
    tidy.send_raw(Message::Close(None)).await;
    let mut closing = clients.next().unwrap();
    closing.send_raw(Message::Close(None)).await;
    clients.next().unwrap().abort(false);
    clients.next().unwrap().abort(true);
    let mut half = clients.next().unwrap();
    for channel in ["presence-5", "private-3"] {
        half.send(json!({"event": "pusher:unsubscribe", "data": {"channel": channel}}))
            .await;
    }
    half.abort(true);

    let started = Instant::now();
    loop {
        let empty = registry.connection_count() == 0
            && registry.channel_count() == 0
            && registry.users.n_online() == 0
            && registry.users.n_watched() == 0
            && ctx.registry.total_connections() == 0;
        if empty {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "registry not empty: {} sockets, {} channels, {} users, {} watched",
            registry.connection_count(),
            registry.channel_count(),
            registry.users.n_online(),
            registry.users.n_watched()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    {
        let view = ctx.cluster.lock();
        assert!(view.channels(&AppId::from(APP_ID), "").is_empty());
        assert!(view.members(&AppId::from(APP_ID), "presence-5").is_empty());
        assert!(!view.is_online(&AppId::from(APP_ID), "u1"));
        assert_eq!(view.remote_connections(&AppId::from(APP_ID)), 0);
    }
    for user in ["u1", "u2", "u3"] {
        assert!(registry.presence_sockets_of(user).is_empty());
        assert!(registry.users.sockets_of(user).is_empty());
    }

    // The same, as a backend sees it.
    let (_, channels) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels"), None)
        .send(addr)
        .await;
    assert_eq!(channels, json!({"channels": {}}));
    let (status, users) = ApiCall::new(
        "GET",
        &format!("/apps/{APP_ID}/channels/presence-5/users"),
        None,
    )
    .send(addr)
    .await;
    assert_eq!(status, 200);
    assert_eq!(users, json!({"users": []}));
    let (_, channel) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels/presence-5"), None)
        .param("info", "user_count,subscription_count")
        .send(addr)
        .await;
    assert_eq!(channel["occupied"], Value::Bool(false), "{channel}");
}
