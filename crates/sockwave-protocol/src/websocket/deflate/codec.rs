//! Compressing and decompressing one message, with per-thread state reset after each.
//!
//! A message is a raw DEFLATE stream ended with a sync flush, whose last four bytes
//! (`00 00 ff ff`, an empty stored block) are left off on the wire and put back before
//! decompressing (RFC 7692 §7.2.1–7.2.2).

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::websocket::ProtocolError;

/// zlib's default level: for a 1 KB JSON event it saves most of what level 9 would, and a
/// broadcast is compressed once for all its subscribers, so its cost is shared.
const LEVEL: u32 = 6;

/// The tail a sync flush ends with, left off on the wire.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The smallest window zlib compresses with. A client asking for 8 bits gets 9-bit
/// compression, which is still safe: zlib never looks back further than the window minus
/// 262 bytes, 250 bytes here, inside the 256 bytes an 8-bit decompressor keeps.
const MIN_COMPRESS_BITS: u8 = 9;

thread_local! {
    /// One compressor per window size, made on first use (only 15 bits, in practice).
    static COMPRESSORS: RefCell<[Option<Compress>; 7]> = const { RefCell::new([const { None }; 7]) };
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// `payload` compressed as one message with an LZ77 window of at most `window_bits`
/// (8–15), sharing nothing with earlier messages. `None` only if the compressor fails,
/// which it does not for valid arguments; the caller then sends the payload uncompressed.
pub fn compress(payload: &[u8], window_bits: u8) -> Option<Vec<u8>> {
    let bits = window_bits.clamp(MIN_COMPRESS_BITS, 15);
    COMPRESSORS.with_borrow_mut(|compressors| {
        let compressor =
            compressors[usize::from(bits - MIN_COMPRESS_BITS)].get_or_insert_with(|| {
                Compress::new_with_window_bits(Compression::new(LEVEL), false, bits)
            });
        let compressed = run_compress(compressor, payload);
        compressor.reset();
        compressed
    })
}

fn run_compress(compressor: &mut Compress, payload: &[u8]) -> Option<Vec<u8>> {
    let start = compressor.total_in();
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    loop {
        if out.capacity() - out.len() < 16 {
            out.reserve(out.capacity());
        }
        let consumed = usize::try_from(compressor.total_in() - start).ok()?;
        compressor
            .compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync)
            .ok()?;
        // The flush is complete once all input is in and the output did not fill up.
        let all_in = compressor.total_in() - start == payload.len() as u64;
        if all_in && out.len() < out.capacity() {
            break;
        }
    }
    let body = out.len().checked_sub(SYNC_TAIL.len())?;
    (out[body..] == SYNC_TAIL).then_some(())?;
    out.truncate(body);
    Some(out)
}

/// A client's compressed message, decompressed; refused once it grows past `max` bytes
/// (a small message may decompress to gigabytes), or when it is not valid DEFLATE data.
/// The client was asked not to reuse its window, so each message stands alone. Lenient as
/// zlib is: a message cut inside a block yields what was decoded so far, and bytes after a
/// final block are ignored; what comes out is still checked as UTF-8 and as a Pusher message.
pub fn inflate(compressed: &[u8], max: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut input = Vec::with_capacity(compressed.len() + SYNC_TAIL.len());
    input.extend_from_slice(compressed);
    input.extend_from_slice(&SYNC_TAIL);
    DECOMPRESSOR.with_borrow_mut(|slot| {
        let decompressor = slot.get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        let result = run_inflate(decompressor, &input, max);
        decompressor.reset(false);
        result
    })
}

fn run_inflate(
    decompressor: &mut Decompress,
    input: &[u8],
    max: usize,
) -> Result<Vec<u8>, ProtocolError> {
    const INVALID: ProtocolError =
        ProtocolError::Protocol("compressed message is not valid DEFLATE data");
    let too_big = ProtocolError::TooBig { limit: max };
    let start = decompressor.total_in();
    let mut out = Vec::new();
    loop {
        if out.len() == out.capacity() {
            // Grown in steps, never past one byte over the limit (which is how it is found).
            let room = max.saturating_add(1) - out.len();
            if room == 0 {
                return Err(too_big);
            }
            out.reserve_exact(out.len().max(256).min(room));
        }
        let consumed = usize::try_from(decompressor.total_in() - start).map_err(|_| INVALID)?;
        let produced = out.len();
        let status = decompressor
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .map_err(|_| INVALID)?;
        if out.len() > max {
            return Err(too_big);
        }
        let all_in = decompressor.total_in() - start == input.len() as u64;
        if status == Status::StreamEnd || (all_in && out.len() < out.capacity()) {
            return Ok(out);
        }
        let progressed =
            decompressor.total_in() - start != consumed as u64 || out.len() != produced;
        if !progressed && out.len() < out.capacity() {
            return Err(INVALID);
        }
    }
}
