//! Server frame headers. Server frames are never masked and never fragmented; a
//! compressed message's frame has RSV1 set.

/// Frame opcodes (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// Continuation of a fragmented message.
    Continuation = 0x0,
    /// UTF-8 text.
    Text = 0x1,
    /// Binary data.
    Binary = 0x2,
    /// Close, with an optional code and reason.
    Close = 0x8,
    /// Ping; the peer answers with a pong carrying the same payload.
    Ping = 0x9,
    /// Pong.
    Pong = 0xA,
}

impl Opcode {
    /// The opcode for the low four bits of a frame's first byte; `None` for reserved values.
    pub fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong: at most 125 bytes and never fragmented.
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// The header bytes of one server frame (at most 10), built on the stack.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    bytes: [u8; 10],
    len: u8,
}

impl Header {
    /// The bytes to write before the payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The header of a final, unmasked frame with `payload_len` payload bytes.
pub fn header(opcode: Opcode, payload_len: usize) -> Header {
    header_with(0x80 | opcode as u8, payload_len)
}

/// The header of a final, unmasked frame carrying a `permessage-deflate` compressed
/// message (RSV1 set), with `payload_len` compressed bytes.
pub fn compressed_header(opcode: Opcode, payload_len: usize) -> Header {
    header_with(0xC0 | opcode as u8, payload_len)
}

fn header_with(first: u8, payload_len: usize) -> Header {
    let mut bytes = [0u8; 10];
    bytes[0] = first;
    let len = if payload_len < 126 {
        bytes[1] = payload_len as u8;
        2
    } else if let Ok(short) = u16::try_from(payload_len) {
        bytes[1] = 126;
        bytes[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        bytes[1] = 127;
        bytes[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        10
    };
    Header { bytes, len }
}

/// The payload of a close frame: the code, then the reason cut to the 123 bytes a control
/// frame leaves for it (on a character boundary).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    const MAX_REASON: usize = 123;
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths_use_the_three_encodings() {
        assert_eq!(header(Opcode::Text, 5).as_bytes(), [0x81, 5]);
        assert_eq!(header(Opcode::Text, 125).as_bytes(), [0x81, 125]);
        assert_eq!(header(Opcode::Text, 126).as_bytes(), [0x81, 126, 0, 126]);
        assert_eq!(
            header(Opcode::Close, 65535).as_bytes(),
            [0x88, 126, 0xFF, 0xFF]
        );
        assert_eq!(
            header(Opcode::Pong, 65536).as_bytes(),
            [0x8A, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn compressed_headers_set_rsv1() {
        assert_eq!(compressed_header(Opcode::Text, 7).as_bytes(), [0xC1, 7]);
        assert_eq!(
            compressed_header(Opcode::Binary, 300).as_bytes(),
            [0xC2, 126, 1, 44]
        );
    }

    #[test]
    fn close_payload_truncates_on_a_char_boundary() {
        assert_eq!(close_payload(4100, "slow"), b"\x10\x04slow");
        let long = "é".repeat(100);
        let payload = close_payload(4200, &long);
        assert!(payload.len() <= 125);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }

    #[test]
    fn control_opcodes() {
        assert!(Opcode::Close.is_control() && Opcode::Ping.is_control());
        assert!(!Opcode::Text.is_control() && !Opcode::Continuation.is_control());
        assert_eq!(Opcode::from_bits(0x3), None);
        assert_eq!(Opcode::from_bits(0xA), Some(Opcode::Pong));
    }
}
