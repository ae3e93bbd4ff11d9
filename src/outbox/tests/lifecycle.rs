//! Close requests, detached handles, concurrent senders against the flushing task, and the queue's bookkeeping.

use super::*;

// 6. Close requests.

#[tokio::test]
async fn the_first_close_request_wins() {
    let handle = SocketHandle::detached(socket_id(), 1);
    let wakes = register_counter(&handle);
    assert_eq!(handle.requested_close(), None);
    handle.request_close(CloseRequest::Terminated);
    assert_eq!(handle.requested_close(), Some(CloseRequest::Terminated));
    assert_eq!(wakes.count(), 1);
    register_again(&handle, &wakes);
    handle.request_close(CloseRequest::Shutdown);
    handle.request_close(CloseRequest::Terminated);
    assert_eq!(handle.requested_close(), Some(CloseRequest::Terminated));
    assert_eq!(wakes.count(), 1, "only the first request wakes the task");
    // Asked to close, it takes no more frames, and keeps the first reason.
    assert_eq!(handle.try_send(&Frame::from("1")), SendOutcome::Gone);
    assert_eq!(handle.requested_close(), Some(CloseRequest::Terminated));
    // Clones share the state.
    assert_eq!(
        handle.clone().requested_close(),
        Some(CloseRequest::Terminated)
    );
}

#[test]
fn close_requests_round_trip_through_the_atomic() {
    use CloseRequest::*;
    for request in [
        SlowConsumer,
        Stalled,
        Terminated,
        Unauthorized,
        PongTimeout,
        Shutdown,
    ] {
        assert_ne!(request as u8, 0, "0 means no request");
        assert_eq!(CloseRequest::from_u8(request as u8), Some(request));
        let handle = SocketHandle::detached(socket_id(), 1);
        handle.request_close(request);
        assert_eq!(handle.requested_close(), Some(request));
    }
    assert_eq!(CloseRequest::from_u8(0), None);
    assert_eq!(CloseRequest::from_u8(200), None);
}

// 7. Detached handles.

#[tokio::test]
async fn a_detached_handle_queues_in_order_up_to_its_capacity() {
    let handle = SocketHandle::detached(socket_id(), 3);
    let id = handle.id();
    assert_eq!(handle.clone().id(), id);
    for text in ["one", "two", "three"] {
        assert_eq!(handle.try_send(&Frame::from(text)), SendOutcome::Queued);
    }
    assert_eq!(
        handle.try_send(&Frame::from("four")),
        SendOutcome::SlowConsumer
    );
    assert_eq!(handle.requested_close(), Some(CloseRequest::SlowConsumer));
    assert_eq!(handle.take_queued(), ["one", "two", "three"]);
    assert!(handle.take_queued().is_empty());
    // Emptied, it still takes nothing: it was asked to close.
    assert_eq!(handle.try_send(&Frame::from("five")), SendOutcome::Gone);
    assert!(handle.take_queued().is_empty());
    assert_eq!(stalled_since(&handle), None);
}

#[test]
fn liveness_fields() {
    let handle = SocketHandle::detached(socket_id(), 1);
    assert!(handle.opened_at() >= 1);
    assert_eq!(handle.last_seen(), handle.opened_at());
    assert_eq!(handle.ping_sent(), None);
    handle.set_ping_sent(0);
    assert_eq!(
        handle.ping_sent(),
        Some(1),
        "0 is stored as 1, never as 'not waiting'"
    );
    handle.set_ping_sent(500);
    assert_eq!(handle.ping_sent(), Some(500));
    handle.touch(700);
    assert_eq!(handle.last_seen(), 700);
    assert_eq!(handle.ping_sent(), None);
    assert!(!handle.is_authorized());
    handle.set_authorized();
    assert!(handle.clone().is_authorized());
}

// Concurrency: direct writers and the flushing task never interleave frames.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_and_the_flushing_task_never_tear_or_reorder_frames() {
    const SENDERS: usize = 4;
    const PER_SENDER: usize = 1500;
    let (server, mut client) = pair(true).await;
    let handle = handle_for(&server, 1 << 20);

    let flusher = tokio::spawn({
        let handle = handle.clone();
        let mut io = SocketIo::Tcp(server.clone());
        async move {
            poll_fn(|cx| {
                handle.register(cx);
                match handle.poll_flush(cx, &mut io) {
                    Poll::Ready(Ok(())) | Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(err)) => Poll::Ready(err),
                }
            })
            .await
        }
    });

    let body = |sender: usize, seq: usize| -> String {
        let len = match seq % 250 {
            0 => 70_000,
            n => [0, 40, 120, 126, 500, 2000, 9000][n % 7],
        };
        let mut text = format!("{sender}:{seq:06}|");
        let fill = char::from(b'a' + ((sender * 7 + seq) % 26) as u8);
        while text.len() < len {
            text.push(fill);
        }
        text
    };

    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let handle = handle.clone();
            tokio::task::spawn_blocking(move || {
                let mut outcomes = [0usize; 2];
                for seq in 0..PER_SENDER {
                    match handle.try_send(&Frame::from(body(sender, seq))) {
                        SendOutcome::Sent => outcomes[0] += 1,
                        SendOutcome::Queued => outcomes[1] += 1,
                        other => panic!("sender {sender} frame {seq}: {other:?}"),
                    }
                }
                outcomes
            })
        })
        .collect();

    let reader = async {
        let mut next = [0usize; SENDERS];
        for _ in 0..SENDERS * PER_SENDER {
            let (opcode, got) = client.next_frame().await;
            assert_eq!(opcode, Opcode::Text);
            let text = String::from_utf8(got).expect("whole UTF-8 frames");
            let (sender, rest) = text.split_once(':').expect("a sender prefix");
            let sender: usize = sender.parse().unwrap();
            let seq: usize = rest[..6].parse().unwrap();
            assert_eq!(seq, next[sender], "sender {sender}'s frames in order");
            assert_eq!(
                text,
                body(sender, seq),
                "sender {sender} frame {seq} intact"
            );
            next[sender] += 1;
        }
        next
    };
    let next = within("all frames", reader).await;
    assert_eq!(next, [PER_SENDER; SENDERS]);

    let (mut sent, mut queued) = (0, 0);
    for sender in senders {
        let [s, q] = within("sender", sender).await.unwrap();
        sent += s;
        queued += q;
    }
    assert_eq!(sent + queued, SENDERS * PER_SENDER);
    assert!(queued > 0, "the small buffers made some frames wait");
    assert_eq!(queued_len(&handle), 0);
    assert_eq!(stalled_since(&handle), None);
    assert!(!flusher.is_finished(), "the connection stayed up");
    flusher.abort();
    client.expect_nothing().await;
}

// Queue bookkeeping.

#[test]
fn advance_counts_partial_frames_and_moves_the_hold_point() {
    let mut queue = Queue::default();
    for text in ["abc", "defgh", "ij"] {
        queue
            .frames
            .push_back(Queued::plain(Opcode::Text, Bytes::from(text)));
    }
    queue.hold = Some(2);
    // Frame sizes on the wire: 5, 7, 4.
    queue.advance(3);
    assert_eq!((queue.frames.len(), queue.written), (3, 3));
    queue.advance(2);
    assert_eq!((queue.frames.len(), queue.written), (2, 0));
    assert_eq!(queue.hold, Some(1));
    queue.advance(7 + 1);
    assert_eq!((queue.frames.len(), queue.written), (1, 1));
    assert_eq!(queue.hold, Some(0));
    queue.advance(3);
    assert!(queue.frames.is_empty());
    assert_eq!(queue.written, 0);
    assert_eq!(queue.hold, Some(0));
}

#[test]
fn queued_payloads_are_shared_not_copied() {
    let handle = SocketHandle::detached(socket_id(), 4);
    let frame = Frame::from(payload(0, 1000));
    handle.try_send(&frame);
    let queued = queued_payloads(&handle);
    assert_eq!(queued, [frame.as_bytes().to_vec()]);
    let taken = handle.take_queued();
    assert_eq!(taken[0].as_ptr(), frame.as_bytes().as_ptr());
}

#[tokio::test]
async fn flush_now_during_a_hold_leaves_the_frames_and_the_direct_path_in_place() {
    let (server, mut client) = pair(false).await;
    let handle = handle_for(&server, 4);
    handle.hold();
    assert_eq!(handle.enqueue(&Frame::from("held")), Enqueued::Behind);
    // A fan-out chunk may still try to flush a socket its task is holding.
    assert_eq!(handle.flush_now(), SendOutcome::Queued);
    assert_eq!(queued_len(&handle), 1);
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"reply"))]);
    assert_eq!(
        handle.flush_now(),
        SendOutcome::Sent,
        "still writes directly"
    );
    assert_eq!(client.text().await, b"reply");
    assert_eq!(client.text().await, b"held");
}
