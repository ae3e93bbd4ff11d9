//! Stall timestamps, hold and release around the task's replies, and the last frames of `seal_with`.

use super::*;

// 3. Stall timestamps.

#[tokio::test]
async fn stalled_since_is_set_while_bytes_wait_and_cleared_once_they_are_written() {
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 64);
    assert_eq!(stalled_since(&handle), None);
    assert_eq!(handle.try_send(&frame(0, 20)), SendOutcome::Sent);
    assert_eq!(
        stalled_since(&handle),
        None,
        "a direct write leaves nothing waiting"
    );

    let before = clock::now_ms();
    let mut next = 1;
    send_until_queued(&handle, &mut next);
    let after = clock::now_ms();
    let since = stalled_since(&handle).expect("bytes wait");
    assert!(
        (before..=after).contains(&since),
        "{before} <= {since} <= {after}"
    );

    // The task cannot write either while the client does not read.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let counter = Arc::new(CountingWaker::default());
    let waker = std::task::Waker::from(counter);
    let polled = handle.poll_flush(&mut Context::from_waker(&waker), &mut io);
    assert!(polled.is_pending(), "{polled:?}");
    let still = stalled_since(&handle).expect("bytes still wait");
    assert!(still >= since);
    assert_eq!(handle.try_send(&frame(next, 20)), SendOutcome::Queued);
    next += 1;
    assert!(stalled_since(&handle).is_some());

    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("frames", client.frames(next))
    );
    flushed.unwrap();
    assert_eq!(frames.len(), next);
    assert_eq!(stalled_since(&handle), None);
}

// 4. hold / release.

#[tokio::test]
async fn hold_queues_on_an_idle_socket_and_release_puts_replies_between_earlier_and_held_frames() {
    let (server, mut client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);

    // Frames queued before the hold (a first hold with no replies leaves them queued).
    handle.hold();
    assert_eq!(
        handle.try_send(&Frame::from("before-1")),
        SendOutcome::Queued
    );
    handle.release(Vec::new());
    assert_eq!(
        handle.try_send(&Frame::from("before-2")),
        SendOutcome::Queued
    );

    handle.hold();
    assert_eq!(
        handle.try_send(&Frame::from("during-1")),
        SendOutcome::Queued
    );
    assert_eq!(
        handle.try_send(&Frame::from("during-2")),
        SendOutcome::Queued
    );
    client.expect_nothing().await;
    handle.release(vec![
        (Opcode::Text, Bytes::from_static(b"reply-1")),
        (Opcode::Pong, Bytes::from_static(b"pong")),
        (Opcode::Text, Bytes::from_static(b"reply-2")),
    ]);
    assert_eq!(handle.lock().hold, None);
    assert_eq!(handle.requested_close(), None);

    let want: [(Opcode, &[u8]); 7] = [
        (Opcode::Text, b"before-1"),
        (Opcode::Text, b"before-2"),
        (Opcode::Text, b"reply-1"),
        (Opcode::Pong, b"pong"),
        (Opcode::Text, b"reply-2"),
        (Opcode::Text, b"during-1"),
        (Opcode::Text, b"during-2"),
    ];
    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("frames", client.frames(want.len()))
    );
    flushed.unwrap();
    let frames: Vec<(Opcode, &[u8])> = frames.iter().map(|(o, p)| (*o, p.as_slice())).collect();
    assert_eq!(frames, want);

    // Released and flushed: direct writes again.
    assert_eq!(handle.try_send(&Frame::from("after")), SendOutcome::Sent);
    assert_eq!(client.text().await, b"after");
}

#[tokio::test]
async fn the_hold_point_follows_frames_written_during_the_hold() {
    let (server, mut client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);
    handle.hold();
    handle.try_send(&Frame::from("a"));
    handle.try_send(&Frame::from("b"));
    handle.release(Vec::new());
    handle.hold();
    assert_eq!(handle.lock().hold, Some(2));
    flush(&handle, &mut io).await.unwrap();
    assert_eq!(handle.lock().hold, Some(0));
    assert_eq!(handle.try_send(&Frame::from("c")), SendOutcome::Queued);
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"r"))]);
    flush(&handle, &mut io).await.unwrap();
    for want in ["a", "b", "r", "c"] {
        assert_eq!(client.text().await, want.as_bytes());
    }
}

#[tokio::test]
async fn detached_hold_and_release_order() {
    let handle = SocketHandle::detached(socket_id(), 16);
    handle.try_send(&Frame::from("q1"));
    handle.hold();
    handle.try_send(&Frame::from("h1"));
    handle.try_send(&Frame::from("h2"));
    handle.release(vec![
        (Opcode::Text, Bytes::from_static(b"r1")),
        (Opcode::Text, Bytes::from_static(b"r2")),
    ]);
    assert_eq!(handle.take_queued(), ["q1", "r1", "r2", "h1", "h2"]);
}

#[tokio::test]
async fn release_without_a_hold_appends() {
    // How the task queues connection_established.
    let handle = SocketHandle::detached(socket_id(), 4);
    handle.try_send(&Frame::from("x"));
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"established"))]);
    assert_eq!(handle.take_queued(), ["x", "established"]);
}

#[tokio::test]
async fn hold_with_nothing_sent_then_empty_release_leaves_nothing() {
    let (server, mut client) = pair(false).await;
    let handle = handle_for(&server, 4);
    handle.hold();
    handle.release(Vec::new());
    assert_eq!(queued_len(&handle), 0);
    assert_eq!(handle.try_send(&Frame::from("x")), SendOutcome::Sent);
    assert_eq!(client.text().await, b"x");
}

#[tokio::test]
async fn a_frame_queued_during_a_hold_on_an_empty_queue_wakes_the_task() {
    let handle = SocketHandle::detached(socket_id(), 4);
    let wakes = register_counter(&handle);
    handle.hold();
    assert_eq!(handle.try_send(&Frame::from("x")), SendOutcome::Queued);
    assert_eq!(wakes.count(), 1);
    register_again(&handle, &wakes);
    assert_eq!(handle.try_send(&Frame::from("y")), SendOutcome::Queued);
    assert_eq!(wakes.count(), 1, "the queue was not empty");
}

#[tokio::test]
async fn frames_held_beyond_capacity_are_refused() {
    let handle = SocketHandle::detached(socket_id(), 2);
    handle.hold();
    assert_eq!(handle.try_send(&Frame::from("1")), SendOutcome::Queued);
    assert_eq!(handle.try_send(&Frame::from("2")), SendOutcome::Queued);
    assert_eq!(
        handle.try_send(&Frame::from("3")),
        SendOutcome::SlowConsumer
    );
    assert_eq!(handle.requested_close(), Some(CloseRequest::SlowConsumer));
}

#[tokio::test]
async fn replies_beyond_capacity_request_a_slow_consumer_close() {
    let handle = SocketHandle::detached(socket_id(), 3);
    handle.hold();
    handle.try_send(&Frame::from("h"));
    handle.release(vec![
        (Opcode::Text, Bytes::from_static(b"r1")),
        (Opcode::Text, Bytes::from_static(b"r2")),
    ]);
    assert_eq!(handle.requested_close(), None, "exactly at capacity");
    handle.hold();
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"r3"))]);
    assert_eq!(handle.requested_close(), Some(CloseRequest::SlowConsumer));
    // Replies are never dropped for capacity: they are the task's own.
    assert_eq!(handle.take_queued(), ["r1", "r2", "h", "r3"]);
}

#[tokio::test]
async fn release_after_seal_drops_the_replies() {
    let handle = SocketHandle::detached(socket_id(), 4);
    handle.try_send(&Frame::from("a"));
    handle.hold();
    handle.seal();
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"late"))]);
    assert_eq!(handle.lock().hold, None);
    assert_eq!(handle.try_send(&Frame::from("b")), SendOutcome::Gone);
    // Sealed means gone: what was queued will never be written, so it is dropped.
    assert!(handle.take_queued().is_empty());
}

// 5. seal_with.

#[tokio::test]
async fn seal_with_keeps_queued_frames_and_refuses_later_ones() {
    let handle = SocketHandle::detached(socket_id(), 4);
    handle.try_send(&Frame::from("a"));
    handle.try_send(&Frame::from("b"));
    let close = close_payload(4009, "bye");
    handle.seal_with(
        vec![
            (Opcode::Text, Bytes::from_static(b"error")),
            (Opcode::Close, Bytes::from(close.clone())),
        ],
        false,
    );
    assert_eq!(handle.try_send(&Frame::from("c")), SendOutcome::Gone);
    assert!(!SendOutcome::Gone.accepted());
    // A second seal changes nothing.
    handle.seal_with(vec![(Opcode::Text, Bytes::from_static(b"again"))], true);
    let queued = handle.take_queued();
    assert_eq!(queued.len(), 4);
    assert_eq!(queued[..3], ["a", "b", "error"]);
    assert_eq!(queued[3], close);
}

#[tokio::test]
async fn seal_with_drop_unstarted_drops_frames_not_yet_started() {
    let handle = SocketHandle::detached(socket_id(), 4);
    handle.try_send(&Frame::from("a"));
    handle.try_send(&Frame::from("b"));
    handle.hold();
    handle.try_send(&Frame::from("held"));
    handle.seal_with(vec![(Opcode::Text, Bytes::from_static(b"last"))], true);
    assert_eq!(handle.lock().hold, None);
    assert_eq!(handle.try_send(&Frame::from("c")), SendOutcome::Gone);
    assert_eq!(handle.take_queued(), ["last"]);
}

#[tokio::test]
async fn seal_with_drop_unstarted_completes_a_partly_written_frame_then_sends_the_last() {
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);
    let big = payload(0, 4 << 20);
    assert_eq!(
        handle.try_send(&Frame::from(big.clone())),
        SendOutcome::Queued
    );
    assert!(
        handle.lock().written > 0,
        "the front frame is partly written"
    );
    for seq in 1..=5 {
        assert_eq!(handle.try_send(&frame(seq, 100)), SendOutcome::Queued);
    }
    handle.request_close(CloseRequest::SlowConsumer);
    let close = close_payload(4100, "slow consumer");
    handle.seal_with(
        vec![
            (Opcode::Text, Bytes::from_static(b"pusher:error")),
            (Opcode::Close, Bytes::from(close.clone())),
        ],
        true,
    );
    assert_eq!(queued_len(&handle), 3);
    assert_eq!(handle.try_send(&frame(6, 10)), SendOutcome::Gone);

    let (flushed, frames) =
        tokio::join!(flush(&handle, &mut io), within("frames", client.frames(3)));
    flushed.unwrap();
    assert_eq!(frames[0].0, Opcode::Text);
    assert!(frames[0].1 == big.as_bytes(), "the started frame completes");
    assert_eq!(frames[1], (Opcode::Text, b"pusher:error".to_vec()));
    assert_eq!(frames[2], (Opcode::Close, close));
    io.shutdown().await;
    client.expect_eof().await;
}

#[tokio::test]
async fn seal_with_drop_unstarted_keeps_nothing_when_no_frame_started() {
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);
    handle.hold();
    for seq in 0..5 {
        assert_eq!(handle.try_send(&frame(seq, 100)), SendOutcome::Queued);
    }
    handle.release(Vec::new());
    let close = close_payload(4100, "slow");
    handle.seal_with(vec![(Opcode::Close, Bytes::from(close.clone()))], true);
    assert_eq!(queued_len(&handle), 1);
    flush(&handle, &mut io).await.unwrap();
    assert_eq!(client.frame().await, (Opcode::Close, close));
    io.shutdown().await;
    client.expect_eof().await;
}
