use super::*;
use crate::websocket::ProtocolError;

fn agreed(offers: &[&str]) -> Option<(u8, String)> {
    negotiate(offers.iter().copied()).map(|d| (d.server_window_bits, d.response_header()))
}

const BOTH: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

#[test]
fn accepts_what_browsers_offer() {
    // Chromium and Firefox.
    assert_eq!(
        agreed(&["permessage-deflate; client_max_window_bits"]),
        Some((15, BOTH.to_string()))
    );
    // Node's `ws`, Python's `websockets`.
    assert_eq!(
        agreed(&["permessage-deflate; client_max_window_bits=15"]),
        Some((15, BOTH.to_string()))
    );
    assert_eq!(
        agreed(&["permessage-deflate"]),
        Some((15, BOTH.to_string()))
    );
}

#[test]
fn repeats_a_server_window_limit() {
    assert_eq!(
        agreed(&["permessage-deflate; server_max_window_bits=10; server_no_context_takeover"]),
        Some((10, format!("{BOTH}; server_max_window_bits=10")))
    );
    assert_eq!(
        agreed(&["PerMessage-Deflate; Server_Max_Window_Bits=\"8\""]),
        Some((8, format!("{BOTH}; server_max_window_bits=8")))
    );
}

#[test]
fn declines_invalid_offers_and_tries_the_next() {
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=+9",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; mystery",
        "permessage-deflate; server_max_window_bits=\"9",
        "x-webkit-deflate-frame",
        "",
    ] {
        assert_eq!(agreed(&[bad]), None, "{bad}");
    }
    // The first valid one wins, across a list and across several header lines.
    assert_eq!(
        agreed(&[
            "foo, permessage-deflate; server_max_window_bits=99",
            "permessage-deflate; server_max_window_bits=12, permessage-deflate",
        ]),
        Some((12, format!("{BOTH}; server_max_window_bits=12")))
    );
}

/// RFC 7692 §7.2.3: the same "Hello" as a compressed block, as a stored block, and as a
/// compressed block with BFINAL set.
#[test]
fn inflates_the_rfc_examples() {
    for compressed in [
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00][..],
        &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
    ] {
        assert_eq!(inflate(compressed, 100).unwrap(), b"Hello");
    }
}

#[test]
fn compresses_like_the_rfc_example() {
    // Fixed Huffman codes for a short literal run: the exact bytes of §7.2.3.1.
    assert_eq!(
        compress(b"Hello", 15).unwrap(),
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
}

#[test]
fn round_trips_at_every_window_and_size() {
    let json = r#"{"event":"stats.updated","channel":"private-dashboard-stats","data":"{\"cpu\":0.42,\"memory\":0.61,\"routers\":[{\"name\":\"edge-1\",\"rx\":1234,\"tx\":5678}]}"}"#;
    for bits in 8..=15 {
        for payload in [
            Vec::new(),
            json.as_bytes().to_vec(),
            json.repeat(300).into_bytes(),
            (0..70_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ] {
            let compressed = compress(&payload, bits).unwrap();
            assert_eq!(
                inflate(&compressed, payload.len()).unwrap(),
                payload,
                "{bits} bits, {} bytes",
                payload.len()
            );
        }
    }
    // Each message stands alone: the same input gives the same bytes every time.
    assert_eq!(compress(json.as_bytes(), 15), compress(json.as_bytes(), 15));
    assert!(compress(json.repeat(10).as_bytes(), 15).unwrap().len() < json.len());
}

#[test]
fn refuses_a_message_that_inflates_past_the_limit() {
    let bomb = compress(&vec![b'a'; 10_000_000], 15).unwrap();
    assert!(bomb.len() < 20_000);
    assert_eq!(
        inflate(&bomb, 65_536),
        Err(ProtocolError::TooBig { limit: 65_536 })
    );
    assert_eq!(inflate(&bomb, 10_000_000).unwrap().len(), 10_000_000);
    // The decompressor is clean for the next message after a refusal.
    assert_eq!(
        inflate(&compress(b"next", 15).unwrap(), 10).unwrap(),
        b"next"
    );
}

#[test]
fn refuses_data_that_is_not_deflate() {
    // Block type 11 is reserved.
    assert!(matches!(
        inflate(&[0xff, 0xff, 0xff], 100),
        Err(ProtocolError::Protocol(_))
    ));
    // RFC 7692 §7.2.3.2's second "Hello", a back-reference into the message before it: a
    // client that reuses its window although it was asked not to.
    assert!(matches!(
        inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], 100),
        Err(ProtocolError::Protocol(_))
    ));
    assert_eq!(
        inflate(&compress(b"after", 15).unwrap(), 10).unwrap(),
        b"after"
    );
}

/// A masked client frame (short payloads only).
fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    assert!(payload.len() < 126);
    let mut frame = vec![first_byte, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

fn decode_inflating(limit: usize, bytes: &[u8]) -> (Vec<Incoming>, Result<(), u16>) {
    let mut decoder = Decoder::new(limit).inflating();
    let mut messages = Vec::new();
    let mut bytes = bytes.to_vec();
    let result = decoder.feed(&mut bytes, &mut |message| messages.push(message));
    (messages, result.map_err(|err| err.close_code()))
}

use crate::websocket::{Decoder, Incoming};

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;

#[test]
fn the_decoder_inflates_compressed_messages() {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let (first, rest) = hello.split_at(3);
    let stream = [
        client_frame(FIN | RSV1 | 0x1, &hello),
        // Fragmented: RSV1 on the first frame only, a ping in between.
        client_frame(RSV1 | 0x1, first),
        client_frame(FIN | 0x9, b"p"),
        client_frame(FIN, rest),
        // Uncompressed messages stay allowed.
        client_frame(FIN | 0x1, b"plain"),
        client_frame(FIN | RSV1 | 0x2, &compress(&[1, 2, 3], 15).unwrap()),
    ]
    .concat();
    let text = |s: &str| Incoming::Text(s.to_string());
    assert_eq!(
        decode_inflating(100, &stream),
        (
            vec![
                text("Hello"),
                Incoming::Ping(b"p".to_vec()),
                text("Hello"),
                text("plain"),
                Incoming::Binary(vec![1, 2, 3]),
            ],
            Ok(())
        )
    );
}

#[test]
fn the_decoder_refuses_misused_compression() {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let code = |bytes: &[u8]| decode_inflating(100, bytes).1;
    // RSV1 on a continuation, on control frames; RSV2 and RSV3 stay reserved.
    assert_eq!(
        code(&[client_frame(0x1, b"a"), client_frame(FIN | RSV1, b"b")].concat()),
        Err(1002)
    );
    assert_eq!(code(&client_frame(FIN | RSV1 | 0x9, b"")), Err(1002));
    assert_eq!(code(&client_frame(FIN | RSV1 | 0x8, b"")), Err(1002));
    assert_eq!(code(&client_frame(FIN | 0x20 | 0x1, b"a")), Err(1002));
    // Not DEFLATE; past the limit once inflated; not UTF-8 once inflated.
    assert_eq!(
        code(&client_frame(FIN | RSV1 | 0x1, &[0xff, 0xff])),
        Err(1002)
    );
    assert_eq!(
        decode_inflating(4, &client_frame(FIN | RSV1 | 0x1, &hello)).1,
        Err(1009)
    );
    let latin1 = compress(&[0xe9, 0xe9], 15).unwrap();
    assert_eq!(code(&client_frame(FIN | RSV1 | 0x1, &latin1)), Err(1007));
    // Without `inflating`, RSV1 is a protocol error as before.
    let mut plain = Decoder::new(100);
    let mut bytes = client_frame(FIN | RSV1 | 0x1, &hello);
    assert_eq!(
        plain
            .feed(&mut bytes, &mut |_| {})
            .map_err(|e| e.close_code()),
        Err(1002)
    );
}

/// Inflates through a decompressor that keeps only a `bits` window, handing it 16 bytes of
/// output space at a time so that every back-reference must come from that window: any
/// reference further back fails ("too far back").
fn inflate_in_window(compressed: &[u8], bits: u8, len: usize) -> Result<Vec<u8>, String> {
    let mut narrow = flate2::Decompress::new_with_window_bits(false, bits);
    let input = [compressed, &[0x00, 0x00, 0xff, 0xff]].concat();
    let mut out = Vec::with_capacity(len + 16);
    while (narrow.total_in() as usize) < input.len() && out.len() < len {
        let room = out.len() + 16;
        let mut chunk = Vec::with_capacity(16);
        let consumed = narrow.total_in() as usize;
        narrow
            .decompress_vec(
                &input[consumed..],
                &mut chunk,
                flate2::FlushDecompress::Sync,
            )
            .map_err(|err| err.to_string())?;
        out.extend_from_slice(&chunk);
        assert!(out.len() <= room);
    }
    Ok(out)
}

/// `compress` keeps to the window it was given: its output inflates through a decompressor
/// with only that window, and a wider compression of the same bytes does not.
#[test]
fn compression_keeps_within_the_agreed_window() {
    let mut state = 2_463_534_242u32;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect()
    };
    for bits in 9..=15u8 {
        // A block, then more than a window of other bytes, then the block again: only a
        // compressor with a larger window can point back at the first copy.
        let block = noise(200);
        let payload = [block.clone(), noise(1 << bits), block].concat();
        let compressed = compress(&payload, bits).unwrap();
        let inflated = inflate_in_window(&compressed, bits, payload.len());
        assert_eq!(inflated.as_deref(), Ok(payload.as_slice()), "{bits} bits");
    }
    // And the check bites: a 15-bit compression of such bytes does not fit a 9-bit window.
    let block = noise(200);
    let payload = [block.clone(), noise(1000), block].concat();
    let wide = compress(&payload, 15).unwrap();
    assert!(
        wide.len() + 100 < payload.len(),
        "the repeat was found: {} of {}",
        wide.len(),
        payload.len()
    );
    assert_ne!(
        inflate_in_window(&wide, 9, payload.len()).as_deref(),
        Ok(payload.as_slice())
    );
}
