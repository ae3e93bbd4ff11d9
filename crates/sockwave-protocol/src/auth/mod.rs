//! Signatures: HMAC-SHA256 signing and constant-time verification for channel
//! subscriptions, user sign-in and signed HTTP API requests.
//!
//! Pure functions over bytes and secrets: no I/O, no clock (callers pass the time).

pub mod api_auth;
pub mod channel_auth;
pub mod signature;

pub use api_auth::{verify_request, ApiAuthError, ApiCredentials, ApiRequest};
pub use channel_auth::{channel_string_to_sign, user_string_to_sign, verify_token, TokenError};
