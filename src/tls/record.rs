//! TLS 1.3 record protection (RFC 8446 §5.2–5.3) with the keys rustls hands over once the
//! handshake is done: the per-connection state is two AEAD keys, two IVs and two sequence
//! numbers (~1 KB), where a rustls connection keeps a 4 KB read buffer, its own write queue
//! and the handshake's state for the connection's whole life.
//!
//! Only application data and alerts are understood after the handshake. A post-handshake
//! handshake message (a client's KeyUpdate) cannot be followed without the traffic secrets,
//! so it ends the connection, as Linux kernel TLS does; browsers do not send one.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use tokio_rustls::rustls::ConnectionTrafficSecrets;

/// Largest plaintext of one record.
pub(crate) const MAX_PLAINTEXT: usize = 1 << 14;
/// Largest record on the wire: header, plaintext, content type, padding allowance, tag.
pub(crate) const MAX_RECORD: usize = HEADER + MAX_PLAINTEXT + 256;
/// Record header: outer type, legacy version, length.
pub(crate) const HEADER: usize = 5;
const TAG: usize = 16;
const APPLICATION_DATA: u8 = 23;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const CLOSE_NOTIFY: u8 = 0;

/// Why a received record ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    /// Not an application-data record, or longer than TLS allows.
    #[error("malformed TLS record")]
    Malformed,
    /// The tag did not verify (tampered, or keys out of step).
    #[error("TLS record failed to decrypt")]
    Decrypt,
    /// A post-handshake handshake message (KeyUpdate) or an alert other than close_notify.
    #[error("unsupported TLS message after the handshake")]
    Unsupported,
}

/// What one received record held.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Application data, at this range of the buffer that held the record.
    Data(std::ops::Range<usize>),
    /// The peer's close_notify: the end of the stream.
    Closed,
}

/// One direction's key, IV and next sequence number.
struct Direction {
    key: LessSafeKey,
    iv: [u8; aead::NONCE_LEN],
    seq: u64,
}

impl std::fmt::Debug for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direction")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Direction {
    fn new(seq: u64, secrets: &ConnectionTrafficSecrets) -> Option<Direction> {
        let (algorithm, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            _ => return None,
        };
        let key = LessSafeKey::new(UnboundKey::new(algorithm, key.as_ref()).ok()?);
        Some(Direction {
            key,
            iv: iv.as_ref().try_into().ok()?,
            seq,
        })
    }

    /// The next record's nonce: the IV XOR the sequence number, which then advances.
    fn next_nonce(&mut self) -> Nonce {
        let mut nonce = self.iv;
        for (byte, seq) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *byte ^= seq;
        }
        self.seq += 1;
        Nonce::assume_unique_for_key(nonce)
    }
}

/// Both directions of a TLS 1.3 connection after its handshake.
#[derive(Debug)]
pub(crate) struct Records {
    tx: Direction,
    rx: Direction,
}

impl Records {
    /// From the secrets rustls extracted (sequence number and keys per direction); `None`
    /// for a cipher suite this layer does not know.
    pub(crate) fn new(
        tx: (u64, ConnectionTrafficSecrets),
        rx: (u64, ConnectionTrafficSecrets),
    ) -> Option<Records> {
        Some(Records {
            tx: Direction::new(tx.0, &tx.1)?,
            rx: Direction::new(rx.0, &rx.1)?,
        })
    }

    /// Starts a record at the end of `out`: the caller appends up to `MAX_PLAINTEXT` bytes
    /// of plaintext, then calls `finish` with the returned start.
    pub(crate) fn begin(out: &mut Vec<u8>) -> usize {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        start
    }

    /// Seals the application data appended since `begin` returned `start`.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, start: usize) {
        self.finish_typed(APPLICATION_DATA, out, start);
    }

    /// Appends a close_notify alert record to `out`.
    pub(crate) fn seal_close_notify(&mut self, out: &mut Vec<u8>) {
        let start = Records::begin(out);
        out.extend_from_slice(&[1, CLOSE_NOTIFY]);
        self.finish_typed(ALERT, out, start);
    }

    fn finish_typed(&mut self, content_type: u8, out: &mut Vec<u8>, start: usize) {
        let body = start + HEADER;
        debug_assert!(out.len() - body <= MAX_PLAINTEXT);
        out.push(content_type);
        let length = out.len() - body + TAG;
        let header = [APPLICATION_DATA, 3, 3, (length >> 8) as u8, length as u8];
        out[start..body].copy_from_slice(&header);
        let nonce = self.tx.next_nonce();
        let tag = self
            .tx
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(header), &mut out[body..])
            .expect("a record's plaintext is within the AEAD's limit");
        out.extend_from_slice(tag.as_ref());
    }

    /// The length of the complete record at the start of `buf`, or `None` when more bytes
    /// are needed.
    pub(crate) fn record_len(buf: &[u8]) -> Result<Option<usize>, RecordError> {
        if buf.len() < HEADER {
            return Ok(None);
        }
        let length = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
        if buf[0] != APPLICATION_DATA || length < TAG + 1 || HEADER + length > MAX_RECORD {
            return Err(RecordError::Malformed);
        }
        Ok((buf.len() >= HEADER + length).then_some(HEADER + length))
    }

    /// Decrypts the complete record `record` (as measured by `record_len`) in place.
    pub(crate) fn open(&mut self, record: &mut [u8]) -> Result<Opened, RecordError> {
        let (header, body) = record.split_at_mut(HEADER);
        let header: [u8; HEADER] = (&*header).try_into().expect("header length");
        let nonce = self.rx.next_nonce();
        let plaintext = self
            .rx
            .key
            .open_in_place(nonce, Aad::from(header), body)
            .map_err(|_| RecordError::Decrypt)?;
        // The inner plaintext is the content, its type, then zero padding.
        let Some(end) = plaintext.iter().rposition(|&byte| byte != 0) else {
            return Err(RecordError::Malformed);
        };
        if end > MAX_PLAINTEXT {
            return Err(RecordError::Malformed);
        }
        match plaintext[end] {
            APPLICATION_DATA => Ok(Opened::Data(HEADER..HEADER + end)),
            ALERT if plaintext[..end] == [1, CLOSE_NOTIFY] => Ok(Opened::Closed),
            ALERT | HANDSHAKE => Err(RecordError::Unsupported),
            _ => Err(RecordError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests;
