//! Direct writes, a full kernel buffer, the bounded queue and its flush, and a peer that went away.

use super::*;

// 1. Direct writes.

#[tokio::test]
async fn try_send_on_an_idle_plain_socket_writes_directly() {
    let (server, mut client) = pair(false).await;
    let handle = handle_for(&server, 8);
    for (seq, len) in [(0, 0), (1, 9), (2, 125), (3, 126), (4, 1000)] {
        let text = if len == 0 {
            String::new()
        } else {
            payload(seq, len)
        };
        assert_eq!(
            handle.try_send(&Frame::from(text.clone())),
            SendOutcome::Sent
        );
        {
            let queue = handle.lock();
            assert!(queue.frames.is_empty(), "nothing queued");
            assert_eq!(queue.written, 0);
            assert_eq!(queue.stalled_since, 0);
        }
        assert_eq!(stalled_since(&handle), None);
        assert_eq!(client.text().await, text.as_bytes());
    }
    assert_eq!(handle.requested_close(), None);
    client.expect_nothing().await;
}

#[tokio::test]
async fn all_three_header_forms_reach_the_client_intact() {
    let (server, mut client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 64);
    let sizes = [10, 125, 126, 127, 65535, 65536, 70_000, 300_000, 1, 200];
    for (seq, len) in sizes.iter().enumerate() {
        // Big frames may not fit the kernel buffer; they are queued then.
        assert!(handle.try_send(&frame(seq, *len)).accepted());
    }
    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("all frames", client.frames(sizes.len()))
    );
    flushed.unwrap();
    for (seq, (len, (opcode, got))) in sizes.iter().zip(frames).enumerate() {
        assert_eq!(opcode, Opcode::Text);
        assert_eq!(got, payload(seq, *len).as_bytes(), "frame {seq}");
    }
    assert_eq!(queued_len(&handle), 0);
    client.expect_nothing().await;
}

// 2. A full kernel buffer, the bounded queue, and the flush.

#[tokio::test]
async fn a_client_that_does_not_read_is_queued_then_a_slow_consumer_and_flushes_every_frame_once() {
    const CAPACITY: usize = 8;
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, CAPACITY);
    let wakes = register_counter(&handle);

    let mut next = 0;
    let outcomes = send_until_queued(&handle, &mut next);
    let sent = outcomes.len() - 1;
    assert!(
        sent > 0,
        "the first frame on an idle socket goes straight out"
    );
    assert_eq!(queued_len(&handle), 1);
    assert_eq!(wakes.count(), 1, "the first queued frame wakes the task");
    assert_eq!(handle.requested_close(), None);
    register_again(&handle, &wakes);

    // The queue fills up to its capacity; the kernel takes nothing more meanwhile (only the
    // task writes once frames wait).
    for _ in 1..CAPACITY {
        assert_eq!(
            handle.try_send(&frame(next, size_of(next))),
            SendOutcome::Queued
        );
        next += 1;
    }
    assert_eq!(queued_len(&handle), CAPACITY);
    assert_eq!(wakes.count(), 1, "later frames do not wake the task again");
    let accepted = next;

    // One more is refused: the socket is asked to close as a slow consumer.
    assert_eq!(handle.try_send(&frame(next, 10)), SendOutcome::SlowConsumer);
    assert!(!SendOutcome::SlowConsumer.accepted());
    assert_eq!(handle.requested_close(), Some(CloseRequest::SlowConsumer));
    assert_eq!(wakes.count(), 2, "the close request wakes the task");
    assert_eq!(
        handle.try_send(&frame(next + 1, 10)),
        SendOutcome::Gone,
        "a socket asked to close takes nothing more"
    );
    assert_eq!(queued_len(&handle), CAPACITY);
    assert!(stalled_since(&handle).is_some());

    // The task flushes while the client reads: every accepted frame arrives once, in order,
    // whole.
    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("accepted frames", client.frames(accepted))
    );
    flushed.unwrap();
    for (seq, (opcode, got)) in frames.into_iter().enumerate() {
        assert_eq!(opcode, Opcode::Text, "frame {seq}");
        assert_eq!(
            String::from_utf8_lossy(&got),
            payload(seq, size_of(seq)),
            "frame {seq}"
        );
    }
    assert_eq!(queued_len(&handle), 0);
    assert_eq!(handle.lock().written, 0);
    assert_eq!(stalled_since(&handle), None);
    // Nothing refused slipped through, and nothing came twice; and nothing is taken after the
    // request, even with the queue empty again (a later frame would hide the gap from a
    // client that resumes by position).
    assert_eq!(handle.try_send(&Frame::from("end")), SendOutcome::Gone);
    client.expect_nothing().await;
}

#[tokio::test]
async fn a_frame_cut_by_a_full_kernel_buffer_is_completed_before_the_next() {
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);
    // Far more than both kernel buffers: the direct write takes only a part.
    let big = payload(0, 4 << 20);
    assert_eq!(
        handle.try_send(&Frame::from(big.clone())),
        SendOutcome::Queued
    );
    {
        let queue = handle.lock();
        assert_eq!(queue.frames.len(), 1);
        assert!(
            queue.written > 0,
            "the kernel took the first part of the frame"
        );
        assert!(queue.written < 10 + big.len());
    }
    assert!(stalled_since(&handle).is_some());
    for seq in 1..=3 {
        assert_eq!(handle.try_send(&frame(seq, 50)), SendOutcome::Queued);
    }
    let (flushed, frames) =
        tokio::join!(flush(&handle, &mut io), within("frames", client.frames(4)));
    flushed.unwrap();
    assert_eq!(frames[0].1.len(), big.len());
    assert!(
        frames[0].1 == big.as_bytes(),
        "the big frame arrives intact"
    );
    for (seq, (opcode, got)) in frames.iter().enumerate().skip(1) {
        assert_eq!(*opcode, Opcode::Text);
        assert_eq!(got, payload(seq, 50).as_bytes());
    }
    assert_eq!(stalled_since(&handle), None);
}

#[tokio::test]
async fn more_frames_than_one_vectored_write_carries_flush_in_order() {
    let (server, mut client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 1000);
    let count = 3 * MAX_FRAMES_PER_WRITE + 5;
    handle.hold();
    for seq in 0..count {
        // Empty frames in between: their payload slices are skipped.
        let text = if seq % 7 == 3 {
            String::new()
        } else {
            payload(seq, 40)
        };
        assert_eq!(handle.try_send(&Frame::from(text)), SendOutcome::Queued);
    }
    handle.release(Vec::new());
    client.expect_nothing().await;
    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("frames", client.frames(count))
    );
    flushed.unwrap();
    for (seq, (opcode, got)) in frames.into_iter().enumerate() {
        assert_eq!(opcode, Opcode::Text);
        let want = if seq % 7 == 3 {
            String::new()
        } else {
            payload(seq, 40)
        };
        assert_eq!(got, want.as_bytes(), "frame {seq}");
    }
    // The slots stay until the watchdog's trim; then an idle socket keeps no queue memory.
    assert!(handle.lock().frames.capacity() > 0);
    handle.tidy();
    assert_eq!(handle.lock().frames.capacity(), 0);
}

#[tokio::test]
async fn poll_flush_of_an_empty_queue_is_ready() {
    let (server, _client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 4);
    flush(&handle, &mut io).await.unwrap();
    assert_eq!(stalled_since(&handle), None);
    assert_eq!(handle.lock().frames.capacity(), 0);
}

// 8. A peer that went away.

async fn send_until_gone(handle: &SocketHandle) -> usize {
    for tries in 1..=100 {
        match handle.try_send(&frame(tries, 100)) {
            SendOutcome::Gone => return tries,
            SendOutcome::Sent => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("unexpected {other:?} to a closed peer"),
        }
    }
    panic!("a write to a closed peer never failed");
}

#[tokio::test]
async fn direct_writes_to_a_peer_that_closed_end_gone() {
    let (server, client) = pair(false).await;
    let handle = handle_for(&server, 4);
    let wakes = register_counter(&handle);
    drop(client);
    let tries = send_until_gone(&handle).await;
    assert!(tries <= 100);
    assert_eq!(handle.try_send(&Frame::from("again")), SendOutcome::Gone);
    {
        let queue = handle.lock();
        assert!(queue.sealed);
        assert!(queue.direct.is_none(), "no more direct writes");
        assert!(queue.frames.is_empty());
    }
    assert!(wakes.count() >= 1, "the task is told");
}

#[tokio::test]
async fn direct_writes_to_a_peer_that_reset_end_gone() {
    let (server, client) = pair(false).await;
    let handle = handle_for(&server, 4);
    socket2::SockRef::from(&client.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    send_until_gone(&handle).await;
    assert_eq!(handle.try_send(&Frame::from("again")), SendOutcome::Gone);
}

#[tokio::test]
async fn flushing_to_a_peer_that_reset_fails() {
    let (server, client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 64);
    let mut next = 0;
    send_until_queued(&handle, &mut next);
    socket2::SockRef::from(&client.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    assert!(flush(&handle, &mut io).await.is_err());
    // The task seals the socket when it sees the connection gone.
    handle.seal();
    assert_eq!(handle.try_send(&frame(next, 10)), SendOutcome::Gone);
}

// 9. Never under the cluster view lock.

#[cfg(debug_assertions)]
#[tokio::test]
#[should_panic(expected = "cluster view lock")]
async fn a_socket_write_while_writes_are_banned_panics() {
    let (server, _client) = pair(false).await;
    let handle = handle_for(&server, 8);
    let _ban = ban_writes();
    handle.try_send(&frame(0, 10));
}

#[tokio::test]
async fn a_batch_queued_under_a_ban_is_written_after_it() {
    let (server, mut client) = pair(false).await;
    let handle = handle_for(&server, 8);
    let mut flushes = Flushes::new();
    {
        let _ban = ban_writes();
        assert!(flushes.send(&handle, &frame(0, 10)));
        assert!(flushes.send(&handle, &frame(1, 10)));
    }
    assert_eq!(queued_len(&handle), 2, "nothing is written while banned");
    flushes.flush();
    assert_eq!(queued_len(&handle), 0);
    for seq in 0..2 {
        let (opcode, text) = within("a frame", client.next_frame()).await;
        assert_eq!(
            (opcode, text),
            (Opcode::Text, payload(seq, 10).into_bytes())
        );
    }
}
