//! The lines pusher-js's HTTP transports read (SockJS's framing, which pusher-js kept): each
//! ends with `\n`; the first letter says what it is.
//!
//! - `o` — the session is open (sent once, on the first receive request);
//! - `a["…","…"]` — messages, each a Pusher frame's JSON text as a JSON string;
//! - `h` — heartbeat: the stream is alive (pusher-js answers with an empty send);
//! - `c[code,"reason"]` — the session is closed, with a Pusher close code.

use bytes::{BufMut, Bytes, BytesMut};

/// `o\n`.
pub(super) const OPEN: &[u8] = b"o\n";
/// `h\n`.
pub(super) const HEARTBEAT: &[u8] = b"h\n";

/// One `a[...]` line carrying `frames` (Pusher frames, JSON texts) in order. The line is
/// ASCII (other characters are `\uXXXX` escapes), so its length in bytes is its length in
/// the UTF-16 units pusher-js counts its stream buffer in.
pub(super) fn messages(frames: &[Bytes]) -> Bytes {
    let size: usize = frames.iter().map(|frame| frame.len() + 8).sum();
    let mut line = BytesMut::with_capacity(size + 4);
    line.put_slice(b"a[");
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            line.put_u8(b',');
        }
        // Frames are JSON texts, so UTF-8; a frame that is not (never built by the server)
        // is sent with its invalid bytes replaced rather than breaking the line.
        put_json_string(&mut line, &String::from_utf8_lossy(frame));
    }
    line.put_slice(b"]\n");
    line.freeze()
}

/// `text` as a JSON string literal in ASCII.
fn put_json_string(out: &mut BytesMut, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let escape_unit = |out: &mut BytesMut, unit: u16| {
        out.put_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.put_u8(HEX[usize::from((unit >> shift) & 0xf)]);
        }
    };
    out.put_u8(b'"');
    for c in text.chars() {
        match c {
            '"' => out.put_slice(b"\\\""),
            '\\' => out.put_slice(b"\\\\"),
            '\n' => out.put_slice(b"\\n"),
            '\r' => out.put_slice(b"\\r"),
            '\t' => out.put_slice(b"\\t"),
            ' '..='~' => out.put_u8(c as u8),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    escape_unit(out, *unit);
                }
            }
        }
    }
    out.put_u8(b'"');
}

/// The `c[code,"reason"]` line that ends a session.
pub(super) fn close(code: u16, reason: &str) -> Bytes {
    let body = serde_json::to_string(&(code, reason)).expect("a number and a string serialise");
    Bytes::from(format!("c{body}\n"))
}

/// The messages of one send request: a JSON array of strings, each a Pusher frame's JSON
/// text (`["{\"event\":\"pusher:subscribe\",…}"]`); `[]` is a heartbeat.
pub(super) fn parse_send(body: &[u8]) -> Result<Vec<String>, String> {
    serde_json::from_slice::<Vec<String>>(body).map_err(|err| {
        format!("the body must be a JSON array of strings (pusher-js's xhr_send): {err}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_json_strings_in_one_array() {
        let frames = [
            Bytes::from_static(br#"{"event":"a","data":"{\"x\":1}"}"#),
            Bytes::from_static(br#"{"event":"b"}"#),
        ];
        let line = messages(&frames);
        assert_eq!(
            &line[..],
            br#"a["{\"event\":\"a\",\"data\":\"{\\\"x\\\":1}\"}","{\"event\":\"b\"}"]"#
                .iter()
                .chain(b"\n")
                .copied()
                .collect::<Vec<u8>>()
                .as_slice()
        );
        // What pusher-js does with the line: JSON.parse of what follows the `a`.
        let parsed: Vec<String> = serde_json::from_slice(&line[1..line.len() - 1]).unwrap();
        assert_eq!(parsed[0].as_bytes(), &frames[0][..]);
        assert_eq!(parsed[1].as_bytes(), &frames[1][..]);
        // A line never contains a raw newline: pusher-js splits the stream on them.
        assert!(!line[..line.len() - 1].contains(&b'\n'));
    }

    #[test]
    fn lines_are_ascii_and_decode_to_the_frames() {
        let frame = "{\"data\":\"a\nb\u{2028} é 😀 \\\" \u{1}\"}";
        let line = messages(&[Bytes::from(frame)]);
        assert!(line.is_ascii());
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let parsed: Vec<String> = serde_json::from_slice(&line[1..line.len() - 1]).unwrap();
        assert_eq!(parsed, [frame]);
        // The emoji is one surrogate pair, as JavaScript counts it.
        assert!(std::str::from_utf8(&line)
            .unwrap()
            .contains("\\ud83d\\ude00"));
    }

    #[test]
    fn close_lines() {
        assert_eq!(
            &close(4200, "shutting \"down\"")[..],
            b"c[4200,\"shutting \\\"down\\\"\"]\n"
        );
    }

    #[test]
    fn send_bodies() {
        assert_eq!(parse_send(b"[]").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_send(br#"["{\"event\":\"pusher:ping\"}"]"#).unwrap(),
            vec![r#"{"event":"pusher:ping"}"#.to_string()]
        );
        assert!(parse_send(b"{}").is_err());
        assert!(parse_send(b"[1]").is_err());
        assert!(parse_send(b"").is_err());
    }
}
