//! A presence member as the server accepts it: `channel_data` parsed, and the limits every
//! member is held to — from `channel_data` or from the socket's sign-in alike — checked.
//! Also `Refusal`, the kinds of refused subscription and the `type`/`status` Soketi-style
//! errors carry for each.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::registry::MemberData;

/// Longest presence user id accepted (Pusher's limit).
const MAX_USER_ID_LENGTH: usize = 128;

/// Why a subscription was refused; decides the `type` and `status` Soketi-style errors carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Bad or missing signature, missing channel_data.
    Auth,
    /// The channel name is invalid or reserved.
    InvalidChannel,
    /// Presence channel full or member data too large.
    LimitReached,
}

impl Refusal {
    pub(super) fn error_type(self) -> &'static str {
        match self {
            Refusal::Auth => "AuthError",
            Refusal::InvalidChannel => "InvalidChannel",
            Refusal::LimitReached => "LimitReached",
        }
    }

    pub(super) fn status(self) -> u16 {
        match self {
            Refusal::Auth => 401,
            Refusal::InvalidChannel => 4009,
            Refusal::LimitReached => 4100,
        }
    }
}

/// Parses presence `channel_data`: `user_id` (string or number) and optional `user_info`.
pub(super) fn parse_member(
    channel_data: &str,
    max_info_bytes: usize,
) -> Result<MemberData, (Refusal, String)> {
    #[derive(Deserialize)]
    struct ChannelData {
        user_id: Option<serde_json::Value>,
        user_info: Option<Box<RawValue>>,
    }
    let data: ChannelData = serde_json::from_str(channel_data).map_err(|err| {
        (
            Refusal::Auth,
            format!("channel_data is not a JSON object: {err}"),
        )
    })?;
    let user_id = match data.user_id {
        Some(serde_json::Value::String(id)) if !id.is_empty() => id,
        Some(serde_json::Value::Number(id)) => id.to_string(),
        _ => {
            return Err((
                Refusal::Auth,
                "channel_data must contain a non-empty user_id (string or number)".to_string(),
            ))
        }
    };
    let member = MemberData {
        user_id,
        user_info: data.user_info,
    };
    check_member(member, max_info_bytes)
}

/// The limits every presence member is held to, whether it came from `channel_data` or from
/// the socket's sign-in: the id's length and the size of `user_info`.
pub(super) fn check_member(
    member: MemberData,
    max_info_bytes: usize,
) -> Result<MemberData, (Refusal, String)> {
    if member.user_id.chars().count() > MAX_USER_ID_LENGTH {
        return Err((
            Refusal::LimitReached,
            format!("user_id is longer than {MAX_USER_ID_LENGTH} characters"),
        ));
    }
    if let Some(info) = &member.user_info {
        if info.get().len() > max_info_bytes {
            return Err((
                Refusal::LimitReached,
                format!(
                    "user_info is {} bytes, the limit for a presence member is {max_info_bytes}",
                    info.get().len()
                ),
            ));
        }
    }
    Ok(member)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(channel_data: &str, expected: Result<&str, &str>) {
        match (parse_member(channel_data, 20), expected) {
            (Ok(member), Ok(id)) => assert_eq!(member.user_id, id),
            (Err((_, message)), Err(want)) => assert!(message.contains(want), "{message}"),
            (got, want) => panic!("{channel_data}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn member_data() {
        check(r#"{"user_id":42}"#, Ok("42"));
        check(r#"{"user_id":"ann","user_info":{"a":1}}"#, Ok("ann"));
        check(r#"{"user_id":""}"#, Err("non-empty user_id"));
        check(r#"{"user_info":{}}"#, Err("non-empty user_id"));
        check(r#"{"user_id":true}"#, Err("non-empty user_id"));
        check("nope", Err("not a JSON object"));
        check(
            r#"{"user_id":1,"user_info":{"name":"a very long name"}}"#,
            Err("limit for a presence member is 20"),
        );
        check(
            &format!(r#"{{"user_id":"{}"}}"#, "x".repeat(129)),
            Err("longer than 128"),
        );
    }
}
