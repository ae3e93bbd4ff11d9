//! Choosing among a client's `permessage-deflate` offers (RFC 7692 §5 and §7.1).

use super::PerMessageDeflate;

/// The first `permessage-deflate` offer in the client's `Sec-WebSocket-Extensions` header
/// values (each may list several extensions) that the server can accept; `None` when the
/// client offers none, or none that is valid. An offer with an unknown, repeated or
/// malformed parameter is declined, as RFC 7692 §5.1 asks, and the next one is tried.
pub fn negotiate<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
) -> Option<PerMessageDeflate> {
    header_values
        .into_iter()
        .flat_map(|value| value.split(','))
        .find_map(accept)
}

/// The agreement for one offer (`permessage-deflate; param; param=value…`), if acceptable.
fn accept(offer: &str) -> Option<PerMessageDeflate> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut seen = Seen::default();
    let mut agreed = PerMessageDeflate {
        server_window_bits: PerMessageDeflate::MAX_WINDOW_BITS,
        server_window_bits_offered: false,
    };
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim())?)),
            None => (param, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            // The server keeps no context anyway; both are answered in every reply.
            ("server_no_context_takeover", None) => once(&mut seen.server_no_context)?,
            ("client_no_context_takeover", None) => once(&mut seen.client_no_context)?,
            ("server_max_window_bits", Some(bits)) => {
                once(&mut seen.server_bits)?;
                agreed.server_window_bits = window_bits(bits)?;
                agreed.server_window_bits_offered = true;
            }
            // The client's own window: decompression here needs no more than 15 bits, and
            // the client keeps no context between messages, so any value is fine.
            ("client_max_window_bits", None) => once(&mut seen.client_bits)?,
            ("client_max_window_bits", Some(bits)) => {
                once(&mut seen.client_bits)?;
                window_bits(bits)?;
            }
            _ => return None,
        }
    }
    Some(agreed)
}

/// Which parameters an offer named, so a repeated one declines it.
#[derive(Default)]
struct Seen {
    server_no_context: bool,
    client_no_context: bool,
    server_bits: bool,
    client_bits: bool,
}

fn once(seen: &mut bool) -> Option<()> {
    (!std::mem::replace(seen, true)).then_some(())
}

/// `8` to `15`, written as plain digits (no sign, no leading zero).
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// A parameter value as a token or a quoted string (RFC 7692 §7.1: both are valid).
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None => Some(value),
    }
}
