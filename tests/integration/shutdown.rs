//! Graceful shutdown: sockets get 4200, readiness fails, the server stops.

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn shutdown_closes_sockets_with_4200() {
    let server = start(|c| c.server.shutdown_grace_period = Duration::from_secs(2)).await;
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    a.subscribe("news", None, None).await;
    let shutdown = tokio::spawn(server.shutdown());
    for client in [&mut a, &mut b] {
        let error = client.expect_event("pusher:error").await;
        assert_eq!(error["data"]["code"], 4200);
        assert_eq!(client.expect_close().await, 4200);
    }
    tokio::time::timeout(Duration::from_secs(3), shutdown)
        .await
        .expect("shutdown finishes within the grace period")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}
