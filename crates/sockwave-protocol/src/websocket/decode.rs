//! Client frames in, whole messages out.
//!
//! The caller reads into a scratch buffer it does not keep (one per worker thread) and hands
//! the bytes to `Decoder::feed`, which unmasks complete frames in place and reports each
//! complete message. Only the tail of an incomplete frame, or a fragmented message in
//! progress, is copied into the decoder; an idle connection's decoder owns no memory.
//! With `permessage-deflate` negotiated (`inflating`), a message whose first frame has RSV1
//! set is decompressed once complete, under the same size limit.

use std::fmt;

use super::deflate;
use super::encode::Opcode;

/// One complete message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message (checked to be UTF-8).
    Text(String),
    /// A binary message (a Pusher server only refuses it; the echo harness returns it).
    Binary(Vec<u8>),
    /// A ping; the reply is a pong with this payload.
    Ping(Vec<u8>),
    /// A pong (an answer to a ping nobody here sent, or a heartbeat).
    Pong,
    /// The client starts the close handshake, with its close code if it sent one.
    Close(Option<u16>),
}

/// A client broke the framing rules; the connection ends with the error's close code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// 1002: a frame the protocol does not allow (unmasked, reserved bits or opcode, …).
    Protocol(&'static str),
    /// 1009: a message larger than the configured limit.
    TooBig {
        /// The limit in bytes.
        limit: usize,
    },
    /// 1007: a text message or close reason that is not UTF-8.
    InvalidUtf8,
}

impl ProtocolError {
    /// The WebSocket close code for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::Protocol(_) => 1002,
            ProtocolError::TooBig { .. } => 1009,
            ProtocolError::InvalidUtf8 => 1007,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Protocol(what) => write!(f, "websocket protocol error: {what}"),
            ProtocolError::TooBig { limit } => {
                write!(f, "message too big: the limit is {limit} bytes")
            }
            ProtocolError::InvalidUtf8 => write!(f, "text message is not valid UTF-8"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Per-connection decoding state: empty while the connection is between messages.
#[derive(Debug, Default)]
pub struct Decoder {
    max_message: usize,
    /// Whether `permessage-deflate` was negotiated: RSV1 marks a compressed message.
    inflate: bool,
    /// Bytes of an incomplete frame carried over from earlier reads.
    pending: Vec<u8>,
    /// A fragmented message in progress: its kind, whether it is compressed, and its
    /// payload so far.
    fragments: Option<(Opcode, bool, Vec<u8>)>,
}

/// A parsed frame header.
struct Head {
    fin: bool,
    opcode: Opcode,
    /// RSV1: the message this frame starts is compressed.
    compressed: bool,
    /// Header length including the 4-byte mask key.
    header_len: usize,
    payload_len: usize,
}

impl Decoder {
    /// A decoder refusing messages over `max_message` bytes.
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            max_message,
            ..Decoder::default()
        }
    }

    /// The same decoder for a connection that negotiated `permessage-deflate`.
    pub fn inflating(self) -> Decoder {
        Decoder {
            inflate: true,
            ..self
        }
    }

    /// Whether no partial frame or message is held.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.fragments.is_none()
    }

    /// Bytes of an incomplete frame held until the next read; for tests and fuzzing, which
    /// check that it stays within one frame of the limit.
    #[doc(hidden)]
    pub fn buffered_bytes(&self) -> usize {
        self.pending.len()
    }

    /// Decodes the bytes just read. Calls `on_message` for every complete message, in order,
    /// and keeps an incomplete tail for the next call. After an error the connection must
    /// end; messages reported before the error were valid.
    pub fn feed(
        &mut self,
        data: &mut [u8],
        on_message: &mut dyn FnMut(Incoming),
    ) -> Result<(), ProtocolError> {
        if self.pending.is_empty() {
            let used = self.decode_frames(data, on_message)?;
            self.pending.extend_from_slice(&data[used..]);
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(data);
        let used = self.decode_frames(&mut pending, on_message)?;
        if used < pending.len() {
            pending.drain(..used);
            self.pending = pending;
        }
        // Otherwise `pending` is dropped here: an idle connection keeps no buffer.
        Ok(())
    }

    /// Decodes complete frames from the front of `buf`; returns how many bytes they used.
    fn decode_frames(
        &mut self,
        buf: &mut [u8],
        on_message: &mut dyn FnMut(Incoming),
    ) -> Result<usize, ProtocolError> {
        let mut used = 0;
        while let Some(head) = self.head(&buf[used..])? {
            let start = used + head.header_len;
            // Saturating: with no practical limit (`usize::MAX`) a frame may announce one.
            let end = start.saturating_add(head.payload_len);
            if buf.len() < end {
                break;
            }
            let (mask, payload) = buf[start - 4..end].split_at_mut(4);
            unmask(payload, [mask[0], mask[1], mask[2], mask[3]]);
            self.on_frame(&head, payload, on_message)?;
            used = end;
        }
        Ok(used)
    }

    /// Parses and checks a frame header; `None` if `buf` does not hold all of it yet.
    fn head(&self, buf: &[u8]) -> Result<Option<Head>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let compressed = b0 & 0x40 != 0;
        if b0 & 0x30 != 0 || (compressed && !self.inflate) {
            return Err(ProtocolError::Protocol(match self.inflate {
                true => "reserved bits RSV2/RSV3 set (no extension uses them)",
                false => "reserved bits set (no extension was negotiated)",
            }));
        }
        let opcode =
            Opcode::from_bits(b0 & 0x0F).ok_or(ProtocolError::Protocol("reserved opcode"))?;
        if compressed && !matches!(opcode, Opcode::Text | Opcode::Binary) {
            return Err(ProtocolError::Protocol(
                "RSV1 is only allowed on the first frame of a data message",
            ));
        }
        if b1 & 0x80 == 0 {
            return Err(ProtocolError::Protocol("client frames must be masked"));
        }
        let (payload_len, length_bytes) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(len) => (u64::from(u16::from_be_bytes([len[0], len[1]])), 2),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(len) => {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(len);
                    (u64::from_be_bytes(bytes), 8)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 0),
        };
        let fin = b0 & 0x80 != 0;
        if opcode.is_control() && (!fin || payload_len > 125) {
            return Err(ProtocolError::Protocol(
                "control frames must be final and at most 125 bytes",
            ));
        }
        // Refused before its payload arrives, so an announced giant frame is never buffered.
        let so_far = match (&self.fragments, opcode) {
            (Some((_, _, payload)), Opcode::Continuation) => payload.len() as u64,
            _ => 0,
        };
        // Saturating: a continuation may announce a length near `u64::MAX`.
        if so_far.saturating_add(payload_len) > self.max_message as u64 {
            return Err(ProtocolError::TooBig {
                limit: self.max_message,
            });
        }
        Ok(Some(Head {
            fin,
            opcode,
            compressed,
            header_len: 2 + length_bytes + 4,
            payload_len: payload_len as usize,
        }))
    }

    fn on_frame(
        &mut self,
        head: &Head,
        payload: &[u8],
        on_message: &mut dyn FnMut(Incoming),
    ) -> Result<(), ProtocolError> {
        match head.opcode {
            Opcode::Text | Opcode::Binary => {
                if self.fragments.is_some() {
                    return Err(ProtocolError::Protocol(
                        "a new message began inside a fragmented one",
                    ));
                }
                if head.fin {
                    on_message(self.complete(head.opcode, head.compressed, payload.to_vec())?);
                } else {
                    self.fragments = Some((head.opcode, head.compressed, payload.to_vec()));
                }
            }
            Opcode::Continuation => {
                let Some((_, _, so_far)) = &mut self.fragments else {
                    return Err(ProtocolError::Protocol(
                        "continuation frame without a message to continue",
                    ));
                };
                so_far.extend_from_slice(payload);
                if head.fin {
                    if let Some((opcode, compressed, message)) = self.fragments.take() {
                        on_message(self.complete(opcode, compressed, message)?);
                    }
                }
            }
            Opcode::Close => on_message(Incoming::Close(close_code(payload)?)),
            Opcode::Ping => on_message(Incoming::Ping(payload.to_vec())),
            Opcode::Pong => on_message(Incoming::Pong),
        }
        Ok(())
    }

    /// The whole message: decompressed if it was compressed (within the same limit).
    fn complete(
        &self,
        opcode: Opcode,
        compressed: bool,
        payload: Vec<u8>,
    ) -> Result<Incoming, ProtocolError> {
        let payload = match compressed {
            true => deflate::inflate(&payload, self.max_message)?,
            false => payload,
        };
        finish(opcode, payload)
    }
}

fn finish(opcode: Opcode, payload: Vec<u8>) -> Result<Incoming, ProtocolError> {
    if opcode == Opcode::Binary {
        return Ok(Incoming::Binary(payload));
    }
    String::from_utf8(payload)
        .map(Incoming::Text)
        .map_err(|_| ProtocolError::InvalidUtf8)
}

/// A close frame's code: none, or two bytes followed by a UTF-8 reason.
fn close_code(payload: &[u8]) -> Result<Option<u16>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::Protocol(
            "close frame with a one-byte payload",
        )),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            // RFC 6455 §7.4: 1004–1006 and 1015 must never be sent; below 1000 and
            // 1016–2999 are not assigned; 3000–4999 are for libraries and applications.
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(ProtocolError::Protocol(
                    "close frame with a reserved or invalid code",
                ));
            }
            std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(code))
        }
    }
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let value = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i];
    }
}

#[cfg(test)]
mod tests;
