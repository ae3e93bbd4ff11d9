//! Unit tests for `Decoder::feed`, written against client frames built here byte by byte.
//!
//! A socket read can end anywhere, so `check` decodes every input in one feed, split in two
//! at every byte (or a sample of bytes for large inputs) and in reads of 1, 2, 3 and 7 bytes,
//! and requires the same messages and the same outcome each time. The cases below then only
//! say what one input must decode to.

use proptest::prelude::*;

use super::*;

const FIN: u8 = 0x80;
const CONTINUATION: u8 = Opcode::Continuation as u8;
const TEXT: u8 = Opcode::Text as u8;
const BINARY: u8 = Opcode::Binary as u8;
const CLOSE: u8 = Opcode::Close as u8;
const PING: u8 = Opcode::Ping as u8;
const PONG: u8 = Opcode::Pong as u8;
/// The mask key of the RFC 6455 §5.7 examples.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Large enough that no case below hits it unless it means to.
const LIMIT: usize = 1 << 20;

/// A client frame: `first_byte` (FIN, RSV and opcode bits) as given, the shortest length
/// encoding, then the mask key and the masked payload.
fn masked(first_byte: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![first_byte];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ mask[i % 4]),
    );
    frame
}

fn frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    masked(first_byte, payload, MASK)
}

fn text(message: &str) -> Vec<u8> {
    frame(FIN | TEXT, message.as_bytes())
}

/// Decodes `chunks` as successive reads, stopping at the first error as a connection does.
fn decode<'a>(
    limit: usize,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Incoming>, Result<(), ProtocolError>) {
    let mut decoder = Decoder::new(limit);
    let mut messages = Vec::new();
    for chunk in chunks {
        // `feed` unmasks in place, so every run gets its own copy of the bytes.
        let mut chunk = chunk.to_vec();
        if let Err(err) = decoder.feed(&mut chunk, &mut |message| messages.push(message)) {
            return (messages, Err(err));
        }
    }
    (messages, Ok(()))
}

/// Decodes `bytes` fed whole, split in two, and in small reads: each must report `messages`
/// and end with `outcome` (`Err` holding the close code).
fn check(limit: usize, bytes: &[u8], messages: &[Incoming], outcome: Result<(), u16>) {
    let expected = (messages.to_vec(), outcome);
    let with_code = |(messages, result): (Vec<Incoming>, Result<(), ProtocolError>)| {
        (messages, result.map_err(|err| err.close_code()))
    };
    assert_eq!(with_code(decode(limit, [bytes])), expected, "one feed");
    let len = bytes.len();
    // Every split point is quadratic in the length; large inputs sample the edges and a stride.
    let split_points =
        (0..=len).filter(|at| len <= 2048 || *at < 32 || *at + 32 > len || at % 997 == 0);
    for at in split_points {
        let (head, tail) = bytes.split_at(at);
        assert_eq!(
            with_code(decode(limit, [head, tail])),
            expected,
            "split at {at}"
        );
    }
    // Small fixed-size reads also complete a frame while keeping the start of the next.
    for size in [1, 2, 3, 7] {
        let chunks = bytes.chunks(size);
        assert_eq!(
            with_code(decode(limit, chunks)),
            expected,
            "{size}-byte reads"
        );
    }
}

fn check_error(bytes: &[u8], code: u16) {
    check(LIMIT, bytes, &[], Err(code));
}

fn text_message(message: &str) -> Incoming {
    Incoming::Text(message.to_string())
}

#[test]
fn rfc_example_single_frame() {
    // RFC 6455 §5.7: "A single-frame masked text message".
    let hello = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(text("Hello"), hello);
    check(LIMIT, &hello, &[text_message("Hello")], Ok(()));
}

#[test]
fn several_frames_in_one_feed() {
    let bytes = [
        text("a"),
        frame(FIN | BINARY, &[1, 2, 3]),
        text(""),
        text("é"),
    ]
    .concat();
    let expected = [
        text_message("a"),
        Incoming::Binary(vec![1, 2, 3]),
        text_message(""),
        text_message("é"),
    ];
    check(LIMIT, &bytes, &expected, Ok(()));
}

#[test]
fn mask_keys_are_applied_per_frame() {
    let bytes = [
        masked(FIN | TEXT, b"hello world", [0, 0, 0, 0]),
        masked(FIN | TEXT, b"hello world", [0xFF, 0x01, 0x80, 0x7F]),
    ]
    .concat();
    let expected = [text_message("hello world"), text_message("hello world")];
    check(LIMIT, &bytes, &expected, Ok(()));
}

#[test]
fn sixteen_and_sixty_four_bit_lengths() {
    for len in [125, 126, 127, 300, 0xFFFF, 0x1_0000, 70_000] {
        let message = "x".repeat(len);
        let bytes = text(&message);
        let header_len = match len {
            0..=125 => 6,
            126..=0xFFFF => 8,
            _ => 14,
        };
        assert_eq!(bytes.len(), header_len + len);
        check(LIMIT, &bytes, &[text_message(&message)], Ok(()));
        check(
            LIMIT,
            &frame(FIN | BINARY, message.as_bytes()),
            &[Incoming::Binary(message.clone().into_bytes())],
            Ok(()),
        );
    }
}

#[test]
fn fragmented_text_with_pings_between_fragments() {
    let bytes = [
        frame(TEXT, b"Hel"),
        frame(FIN | PING, b"p1"),
        frame(CONTINUATION, b"lo, "),
        frame(CONTINUATION, b""),
        frame(FIN | PONG, b""),
        frame(FIN | CONTINUATION, b"world"),
        text("after"),
    ]
    .concat();
    let expected = [
        Incoming::Ping(b"p1".to_vec()),
        Incoming::Pong,
        text_message("Hello, world"),
        text_message("after"),
    ];
    check(LIMIT, &bytes, &expected, Ok(()));
}

#[test]
fn fragmented_binary_is_reassembled() {
    let bytes = [frame(BINARY, &[1; 10]), frame(FIN | CONTINUATION, &[2; 7])].concat();
    let whole = [[1u8; 10].as_slice(), [2u8; 7].as_slice()].concat();
    check(LIMIT, &bytes, &[Incoming::Binary(whole)], Ok(()));
}

#[test]
fn control_frames() {
    check(
        LIMIT,
        &frame(FIN | PING, b"abc"),
        &[Incoming::Ping(b"abc".to_vec())],
        Ok(()),
    );
    check(
        LIMIT,
        &frame(FIN | PING, &[7; 125]),
        &[Incoming::Ping(vec![7; 125])],
        Ok(()),
    );
    check(
        LIMIT,
        &frame(FIN | PING, b""),
        &[Incoming::Ping(Vec::new())],
        Ok(()),
    );
    check(
        LIMIT,
        &frame(FIN | PONG, b"ignored"),
        &[Incoming::Pong],
        Ok(()),
    );
}

#[test]
fn close_frames() {
    check(
        LIMIT,
        &frame(FIN | CLOSE, b""),
        &[Incoming::Close(None)],
        Ok(()),
    );
    check(
        LIMIT,
        &frame(FIN | CLOSE, &[0x03, 0xE8]),
        &[Incoming::Close(Some(1000))],
        Ok(()),
    );
    let with_reason = [&4200u16.to_be_bytes()[..], "bye ✓".as_bytes()].concat();
    check(
        LIMIT,
        &frame(FIN | CLOSE, &with_reason),
        &[Incoming::Close(Some(4200))],
        Ok(()),
    );
    check_error(&frame(FIN | CLOSE, &[0x03]), 1002);
    check_error(&frame(FIN | CLOSE, &[0x03, 0xE8, 0xFF, 0x61]), 1007);
    // Codes a peer may never send, or that nobody assigned.
    for code in [
        0u16,
        999,
        1004,
        1005,
        1006,
        1015,
        1016,
        2999,
        5000,
        u16::MAX,
    ] {
        check_error(&frame(FIN | CLOSE, &code.to_be_bytes()), 1002);
    }
    for code in [1001u16, 1003, 1007, 1014, 3000, 4999] {
        check(
            LIMIT,
            &frame(FIN | CLOSE, &code.to_be_bytes()),
            &[Incoming::Close(Some(code))],
            Ok(()),
        );
    }
}

#[test]
fn frames_breaking_the_rules_are_protocol_errors() {
    let mut unmasked = text("hi");
    unmasked[1] &= 0x7F;
    unmasked.drain(2..6);
    check_error(&unmasked, 1002);
    for rsv in [0x40, 0x20, 0x10] {
        check_error(&frame(FIN | rsv | TEXT, b"hi"), 1002);
    }
    for opcode in (0x3..=0x7).chain(0xB..=0xF) {
        check_error(&frame(FIN | opcode, b""), 1002);
    }
    check_error(&frame(FIN | PING, &[0; 126]), 1002);
    check_error(&frame(FIN | CLOSE, &[0x03, 0xE8].repeat(63)), 1002);
    check_error(&frame(PING, b""), 1002);
    check_error(&frame(CLOSE, b""), 1002);
    check_error(&frame(FIN | CONTINUATION, b"x"), 1002);
    check_error(&frame(CONTINUATION, b"x"), 1002);
    check_error(&[frame(TEXT, b"a"), text("b")].concat(), 1002);
    check_error(
        &[frame(TEXT, b"a"), frame(FIN | BINARY, b"b")].concat(),
        1002,
    );
}

#[test]
fn messages_before_an_error_are_reported() {
    let bytes = [text("ok"), frame(FIN | 0x3, b"")].concat();
    check(LIMIT, &bytes, &[text_message("ok")], Err(1002));
}

#[test]
fn size_limit() {
    check(
        10,
        &text(&"x".repeat(10)),
        &[text_message(&"x".repeat(10))],
        Ok(()),
    );
    check(10, &text(&"x".repeat(11)), &[], Err(1009));
    let fragments = [
        frame(TEXT, &[b'x'; 6]),
        frame(FIN | CONTINUATION, &[b'x'; 5]),
    ]
    .concat();
    check(10, &fragments, &[], Err(1009));
    let at_limit = [
        frame(TEXT, &[b'x'; 6]),
        frame(FIN | CONTINUATION, &[b'x'; 4]),
    ]
    .concat();
    check(10, &at_limit, &[text_message("xxxxxxxxxx")], Ok(()));
}

#[test]
fn an_announced_giant_frame_is_refused_from_its_header() {
    let mut decoder = Decoder::new(1000);
    let mut header = [
        &[FIN | TEXT, 0x80 | 127][..],
        &10_000_000u64.to_be_bytes(),
        &MASK,
    ]
    .concat();
    let result = decoder.feed(&mut header, &mut |_| panic!("no message expected"));
    assert_eq!(result, Err(ProtocolError::TooBig { limit: 1000 }));
    assert_eq!(decoder.buffered_bytes(), 0);

    // The 16-bit length alone is enough to refuse, before the mask key arrives.
    let mut decoder = Decoder::new(1000);
    let mut start = [FIN | BINARY, 0x80 | 126];
    assert_eq!(decoder.feed(&mut start, &mut |_| {}), Ok(()));
    let mut length = 60_000u16.to_be_bytes();
    let result = decoder.feed(&mut length, &mut |_| {});
    assert_eq!(result, Err(ProtocolError::TooBig { limit: 1000 }));
}

/// A 64-bit length near `u64::MAX` on a continuation used to overflow the size check
/// (`so_far + payload_len`): a panic with overflow checks, a slice panic without them.
#[test]
fn a_continuation_with_a_huge_length_is_too_big() {
    for length in [u64::MAX, u64::MAX - 1, 1 << 63] {
        let continuation = [
            &[FIN | CONTINUATION, 0x80 | 127][..],
            &length.to_be_bytes(),
            &MASK,
        ];
        let bytes = [frame(TEXT, b"ab"), continuation.concat()].concat();
        check(100, &bytes, &[], Err(1009));
    }
}

/// A limit of `usize::MAX` (a huge `max_ws_message_kb` saturates to it) lets a frame announce
/// `u64::MAX` bytes; computing where it ends used to overflow.
#[test]
fn no_practical_limit_waits_for_a_huge_frame() {
    let header = [
        &[FIN | BINARY, 0x80 | 127][..],
        &u64::MAX.to_be_bytes(),
        &MASK,
        b"abc",
    ];
    check(usize::MAX, &header.concat(), &[], Ok(()));
}

#[test]
fn utf8_is_checked_on_the_whole_message() {
    check_error(&frame(FIN | TEXT, &[0x61, 0xFF]), 1007);
    check_error(&frame(FIN | TEXT, &[0xC3]), 1007);
    // "é" is C3 A9: each fragment alone is invalid, the message is not.
    let straddling = [
        frame(TEXT, &[b'a', 0xC3]),
        frame(FIN | CONTINUATION, &[0xA9]),
    ]
    .concat();
    check(LIMIT, &straddling, &[text_message("aé")], Ok(()));
    let three_ways = "€".as_bytes().iter().enumerate().map(|(i, byte)| match i {
        0 => frame(TEXT, &[*byte]),
        1 => frame(CONTINUATION, &[*byte]),
        _ => frame(FIN | CONTINUATION, &[*byte]),
    });
    check(
        LIMIT,
        &three_ways.collect::<Vec<_>>().concat(),
        &[text_message("€")],
        Ok(()),
    );
    let cut_short = [frame(TEXT, &[0xE2, 0x82]), frame(FIN | CONTINUATION, b"")].concat();
    check_error(&cut_short, 1007);
    // Binary messages are not text: any bytes.
    check(
        LIMIT,
        &frame(FIN | BINARY, &[0xFF, 0xC3]),
        &[Incoming::Binary(vec![0xFF, 0xC3])],
        Ok(()),
    );
}

#[test]
fn idle_only_between_messages() {
    let mut decoder = Decoder::new(LIMIT);
    assert!(decoder.is_idle());
    let mut message = [text("one"), text("two")].concat();
    let mut n_messages = 0;
    decoder
        .feed(&mut message, &mut |_| n_messages += 1)
        .unwrap();
    assert_eq!(n_messages, 2);
    assert!(decoder.is_idle());
    assert_eq!(decoder.buffered_bytes(), 0);

    // A partial header, then a partial payload, are held.
    let bytes = text("three");
    let mut next = n_messages;
    for (at, byte) in bytes.iter().enumerate() {
        decoder.feed(&mut [*byte], &mut |_| next += 1).unwrap();
        let complete = at + 1 == bytes.len();
        assert_eq!(decoder.is_idle(), complete, "after byte {at}");
        assert_eq!(decoder.buffered_bytes(), if complete { 0 } else { at + 1 });
    }
    assert_eq!(next, 3);

    // A complete first fragment leaves no partial frame but a message in progress.
    decoder
        .feed(&mut frame(TEXT, b"four"), &mut |_| next += 1)
        .unwrap();
    assert!(!decoder.is_idle());
    assert_eq!(decoder.buffered_bytes(), 0);
    decoder
        .feed(&mut frame(FIN | CONTINUATION, b""), &mut |_| next += 1)
        .unwrap();
    assert!(decoder.is_idle());
    assert_eq!(next, 4);
}

/// One message as the property test sends it: fragmented at `cuts` (byte offsets, possibly
/// inside a character), with a ping between fragments when `pings` says so.
#[derive(Debug, Clone)]
struct Sent {
    message: Incoming,
    payload: Vec<u8>,
    cuts: Vec<prop::sample::Index>,
    pings: bool,
    mask: [u8; 4],
}

fn sent() -> impl Strategy<Value = Sent> {
    let text = prop::collection::vec(any::<char>(), 0..80).prop_map(|chars| {
        let text = String::from_iter(chars);
        (Incoming::Text(text.clone()), text.into_bytes())
    });
    let binary = prop::collection::vec(any::<u8>(), 0..300)
        .prop_map(|bytes| (Incoming::Binary(bytes.clone()), bytes));
    let ping = prop::collection::vec(any::<u8>(), 0..=125)
        .prop_map(|bytes| (Incoming::Ping(bytes.clone()), bytes));
    let pong = Just((Incoming::Pong, b"pong".to_vec()));
    let close = (
        prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999],
        "[a-z ]{0,20}",
    )
        .prop_map(|(code, reason)| {
            let payload = [&code.to_be_bytes()[..], reason.as_bytes()].concat();
            (Incoming::Close(Some(code)), payload)
        });
    let message = prop_oneof![4 => text, 2 => binary, 1 => ping, 1 => pong, 1 => close];
    let cuts = prop::collection::vec(any::<prop::sample::Index>(), 0..4);
    (message, cuts, any::<bool>(), any::<[u8; 4]>()).prop_map(
        |((message, payload), cuts, pings, mask)| Sent {
            message,
            payload,
            cuts,
            pings,
            mask,
        },
    )
}

/// The frames for `sent`, and the messages they must decode to, in order.
fn frames_of(sent: &Sent, stream: &mut Vec<u8>, expected: &mut Vec<Incoming>) {
    let opcode = match sent.message {
        Incoming::Text(_) => TEXT,
        Incoming::Binary(_) => BINARY,
        Incoming::Ping(_) => PING,
        Incoming::Pong => PONG,
        Incoming::Close(_) => CLOSE,
    };
    let is_control = opcode & 0x8 != 0;
    let mut cuts: Vec<usize> = if is_control {
        Vec::new()
    } else {
        sent.cuts
            .iter()
            .map(|cut| cut.index(sent.payload.len() + 1))
            .collect()
    };
    cuts.sort_unstable();
    cuts.push(sent.payload.len());
    let mut start = 0;
    for (i, end) in cuts.iter().copied().enumerate() {
        let last = i + 1 == cuts.len();
        let first_byte = match (i, last) {
            (0, true) => FIN | opcode,
            (0, false) => opcode,
            (_, true) => FIN | CONTINUATION,
            (_, false) => CONTINUATION,
        };
        stream.extend(masked(first_byte, &sent.payload[start..end], sent.mask));
        if !last && sent.pings {
            stream.extend(masked(FIN | PING, &[i as u8], sent.mask));
            expected.push(Incoming::Ping(vec![i as u8]));
        }
        start = end;
    }
    expected.push(sent.message.clone());
}

proptest! {
    /// Valid frames decode to what was sent however the reads split them.
    #[test]
    fn valid_streams_decode_the_same_however_split(
        sent in prop::collection::vec(sent(), 0..12),
        splits in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for one in &sent {
            frames_of(one, &mut stream, &mut expected);
        }
        let mut split_points: Vec<usize> =
            splits.iter().map(|at| at.index(stream.len() + 1)).collect();
        split_points.sort_unstable();
        split_points.push(stream.len());
        let mut chunks = Vec::new();
        let mut start = 0;
        for end in split_points {
            chunks.push(&stream[start..end]);
            start = end;
        }
        prop_assert_eq!(decode(LIMIT, chunks), (expected, Ok(())));

        let mut decoder = Decoder::new(LIMIT);
        decoder.feed(&mut stream.clone(), &mut |_| {}).unwrap();
        prop_assert!(decoder.is_idle());
    }
}
