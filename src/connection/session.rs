//! One socket's protocol state and what each client message does to it: subscriptions,
//! presence membership, client events and their rate limit.
//!
//! A `Session` never touches the WebSocket: it returns the frames to send back to its own
//! socket, and reaches other sockets only through the registry. That keeps it testable
//! without sockets and keeps every await in the connection loop.

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::time::Instant;

use super::member::{check_member, parse_member, Refusal};
use super::message_rate::MessageRate;
use super::resume;
use super::subscriptions::Subscriptions;
use crate::adapter::wire::{Change, NodeMessage};
use crate::app::App;
use crate::config::SubscriptionErrorMode;
use crate::context::Context;
use crate::effects;
use crate::metrics::{AppMetrics, Limit, SubscriptionFailure};
use crate::outbox::{Flushes, Frame, SocketHandle};
use crate::registry::{AppRegistry, MemberData};
use crate::webhooks::WebhookEvent;
use sockwave_protocol::auth::{channel_string_to_sign, user_string_to_sign, verify_token};
use sockwave_protocol::channel::{kind_of, SERVER_TO_USER_PREFIX};
use sockwave_protocol::messages::{self, WatchlistEvent};
use sockwave_protocol::{
    parse_client_message, ChannelKind, ChannelName, ClientMessage, ErrorCode, ParseError,
};

use super::user_data::{parse_user_data, SignedInUser, MAX_WATCHLIST};

/// Most channels one socket may be subscribed to at once. Every subscription costs server
/// memory, and the message rate limit alone would let one socket collect channels for hours.
pub const MAX_CHANNELS_PER_SOCKET: usize = 1000;

/// Per-socket protocol state.
pub struct Session {
    ctx: Arc<Context>,
    app: Arc<App>,
    registry: Arc<AppRegistry>,
    socket: SocketHandle,
    socket_id: String,
    /// Subscribed channels, with the presence user id the socket joined as.
    channels: Subscriptions,
    /// The app's client-event rate for this socket; `None` when the app sets no limit.
    client_events: Option<MessageRate>,
    /// The user this socket signed in as.
    user: Option<SignedInUser>,
    /// This app's metrics, resolved once per socket.
    metrics: Arc<AppMetrics>,
    /// The app store's generation `app` was taken at (see `AppStore::generation`).
    app_generation: u64,
}

impl Session {
    /// A session for a socket already admitted to `registry`.
    pub fn new(
        ctx: Arc<Context>,
        app: Arc<App>,
        registry: Arc<AppRegistry>,
        socket: SocketHandle,
    ) -> Session {
        // A bucket of one second's worth: at most `per_second` events in any second.
        let client_events = app
            .limits
            .max_client_events_per_second
            .map(|per_second| MessageRate::new(per_second, per_second, Instant::now()));
        Session {
            socket_id: socket.id().to_string(),
            metrics: ctx.metrics.app(&app.id),
            app_generation: ctx.apps.generation(),
            ctx,
            app,
            registry,
            socket,
            channels: Subscriptions::default(),
            client_events,
            user: None,
        }
    }

    /// This app's metrics handle.
    pub(crate) fn metrics(&self) -> Arc<AppMetrics> {
        self.metrics.clone()
    }

    /// The socket id as sent on the wire.
    pub fn socket_id(&self) -> &str {
        &self.socket_id
    }

    /// The app this socket belongs to.
    pub(crate) fn app(&self) -> &App {
        &self.app
    }

    /// The app's node-local registry.
    pub(crate) fn registry(&self) -> &AppRegistry {
        &self.registry
    }

    /// Handles one text frame; returns the frames to send back to this socket, in order.
    pub fn handle_text(&mut self, text: &str) -> Vec<String> {
        self.refresh_app();
        match parse_client_message(text) {
            Ok(message) => self.handle(message),
            Err(err) => vec![self.parse_error(&err)],
        }
    }

    /// Takes the app's current settings when the store changed any app since this socket
    /// last looked (an app read again from its database): a new secret or limit applies to
    /// open sockets too. One atomic load when nothing changed.
    fn refresh_app(&mut self) {
        let generation = self.ctx.apps.generation();
        if generation == self.app_generation {
            return;
        }
        self.app_generation = generation;
        if let Some(app) = self.ctx.apps.find_by_id(&self.app.id) {
            self.app = app;
        }
    }

    /// The reply to a frame that could not be parsed (also used for binary frames).
    pub(crate) fn parse_error(&self, err: &ParseError) -> String {
        tracing::debug!(socket_id = %self.socket_id, app_id = %self.app.id, error = %err, "malformed message");
        messages::error(Some(err.code()), &err.to_string(), None)
    }

    fn handle(&mut self, message: ClientMessage) -> Vec<String> {
        match message {
            ClientMessage::Ping => vec![messages::pong()],
            ClientMessage::Pong => Vec::new(),
            ClientMessage::Subscribe {
                channel,
                auth,
                channel_data,
                resume_after,
            } => self.subscribe(
                &channel,
                auth.as_deref(),
                channel_data.as_deref(),
                resume_after,
            ),
            ClientMessage::Unsubscribe { channel } => {
                self.unsubscribe(&channel);
                Vec::new()
            }
            ClientMessage::Signin { auth, user_data } => self.signin(&auth, &user_data),
            ClientMessage::ClientEvent {
                event,
                channel,
                data,
            } => self
                .client_event(&event, &channel, &data)
                .into_iter()
                .collect(),
        }
    }

    fn subscribe(
        &mut self,
        name: &str,
        auth: Option<&str>,
        channel_data: Option<&str>,
        resume_after: Option<String>,
    ) -> Vec<String> {
        if name.starts_with(SERVER_TO_USER_PREFIX) {
            return vec![self.subscribe_server_to_user(name)];
        }
        let channel = match ChannelName::parse(name, self.app.limits.max_channel_name_length) {
            Ok(channel) => channel,
            Err(err) => return vec![self.refuse(name, Refusal::InvalidChannel, err.to_string())],
        };
        if self.channels.len() >= MAX_CHANNELS_PER_SOCKET && !self.channels.contains(name) {
            let message = format!(
                "this connection is subscribed to {MAX_CHANNELS_PER_SOCKET} channels, the limit: unsubscribe from one first"
            );
            return vec![self.refuse(name, Refusal::LimitReached, message)];
        }
        let kind = channel.kind();
        let channel_data = if kind == ChannelKind::Presence {
            channel_data
        } else {
            None
        };
        if kind.needs_auth() {
            if kind == ChannelKind::Presence && channel_data.is_none() && self.user.is_none() {
                let message = format!(
                    "channel_data missing for presence channel '{name}': the auth endpoint must return channel_data with a user_id (or sign in first)"
                );
                return vec![self.refuse(name, Refusal::Auth, message)];
            }
            let to_sign = channel_string_to_sign(&self.socket_id, name, channel_data);
            if let Err(err) = verify_token(&self.app.key, &self.app.secret, &to_sign, auth) {
                return vec![self.refuse(name, Refusal::Auth, err.to_string())];
            }
        }
        let member = match (kind, channel_data, &self.user) {
            (ChannelKind::Presence, Some(data), _) => {
                match parse_member(data, self.app.limits.max_presence_member_size_bytes) {
                    Ok(member) => Some(member),
                    Err((refusal, message)) => return vec![self.refuse(name, refusal, message)],
                }
            }
            // Signed in and no channel_data: the member is the signed-in user, as Pusher does,
            // under the same limits as a member from channel_data.
            (ChannelKind::Presence, None, Some(user)) => {
                let member = MemberData {
                    user_id: user.id.clone(),
                    user_info: user.user_info.clone(),
                };
                match check_member(member, self.app.limits.max_presence_member_size_bytes) {
                    Ok(member) => Some(member),
                    Err((refusal, message)) => return vec![self.refuse(name, refusal, message)],
                }
            }
            _ => None,
        };
        let joining_user = member.as_ref().map(|member| member.user_id.clone());
        let is_presence = kind == ChannelKind::Presence;
        // The view lock serialises this node's membership changes with other nodes' ones, so
        // "first socket of this user in the cluster" is decided exactly once — and so is the
        // member limit, which counts the cluster's members, not this node's.
        let cluster = &self.ctx.cluster;
        let mut view = cluster.lock();
        if let Some(user_id) = &joining_user {
            let max_members = self.app.limits.max_presence_members;
            let already_member = view.has_member(&self.app.id, name, user_id);
            if !already_member && view.user_count(&self.app.id, name) >= max_members {
                drop(view);
                let message = format!(
                    "presence channel '{name}' is full: it already has {max_members} members"
                );
                return vec![self.refuse(name, Refusal::LimitReached, message)];
            }
        }
        // A client with the recovery add-on says where it stands on every subscribe; on a
        // history channel its frames wait while the history is read (`resume`).
        let resume_after = resume_after.filter(|_| self.app.history.covers(name));
        let subscribed =
            self.registry
                .subscribe(&channel, &self.socket, member, resume_after.is_some());
        let mut flushes = Flushes::new();
        if !subscribed.already_subscribed {
            let mut changes = vec![Change::Count {
                channel: name.to_string(),
                count: subscribed.local_count,
            }];
            if let Some(member) = subscribed.member_added {
                changes.push(Change::MemberJoined {
                    channel: name.to_string(),
                    user_id: member.user_id,
                    user_info: member
                        .user_info
                        .and_then(|info| serde_json::from_str(info.get()).ok()),
                });
            }
            let transitions = cluster.apply_local(&mut view, &self.app.id, changes, Instant::now());
            flushes = effects::apply(&self.ctx, &view, transitions, Some(self.socket.id()));
            // A repeated subscribe keeps the membership the socket first joined with.
            self.channels.insert(name, joining_user);
        }
        let succeeded = if is_presence {
            let members = view.members(&self.app.id, name);
            messages::presence_subscription_succeeded(name, &messages::presence_data(&members))
        } else {
            messages::subscription_succeeded(name)
        };
        drop(view);
        flushes.flush();
        let resuming = resume_after
            .as_deref()
            .is_some_and(|after| !after.is_empty());
        if let (Some(resume_after), Some(token)) = (resume_after, subscribed.hold) {
            resume::start(resume::Resume {
                token,
                ctx: self.ctx.clone(),
                app: self.app.clone(),
                registry: self.registry.clone(),
                socket: self.socket.clone(),
                socket_id: self.socket_id.clone(),
                channel: name.to_string(),
                resume_after,
            });
        }
        if kind.needs_auth() {
            self.socket.set_authorized();
        }
        tracing::debug!(socket_id = %self.socket_id, app_id = %self.app.id, channel = name, "subscribed");
        // A public channel's name is whatever an anonymous client chose.
        let fields = || serde_json::json!({"socket_id": self.socket_id, "channel": name});
        if kind.needs_auth() {
            self.ctx
                .console_tap
                .emit(&self.app.id, "subscribed", fields);
        } else {
            self.ctx
                .console_tap
                .emit_client_supplied(&self.app.id, "subscribed", fields);
        }
        let mut replies = vec![succeeded];
        // A resume replays the channel's events itself; the cached one would come twice.
        if channel.is_cache() && !resuming {
            replies.push(match self.registry.cache.get(name, Instant::now()) {
                Some(cached) => messages::channel_event(&cached.event, name, &cached.data),
                None => {
                    self.ctx
                        .webhooks
                        .emit(&self.app, WebhookEvent::cache_miss(name));
                    messages::cache_miss(name)
                }
            });
        }
        replies
    }

    /// pusher-js subscribes to `#server-to-user-{id}` after signing in. Delivery is routed by
    /// the user index, so the subscription is only acknowledged, and only for the socket's own
    /// user: nobody can listen to another user's channel.
    fn subscribe_server_to_user(&self, name: &str) -> String {
        let own = self
            .user
            .as_ref()
            .is_some_and(|user| name[SERVER_TO_USER_PREFIX.len()..] == *user.id);
        if own {
            messages::subscription_succeeded(name)
        } else {
            let message = format!(
                "channel '{name}' is reserved: only a socket signed in as that user receives its messages"
            );
            self.refuse(name, Refusal::InvalidChannel, message)
        }
    }

    fn refuse(&self, channel: &str, refusal: Refusal, message: String) -> String {
        tracing::info!(
            socket_id = %self.socket_id, app_id = %self.app.id, channel,
            reason = %message, "subscription refused"
        );
        self.metrics.subscription_failed(match refusal {
            Refusal::Auth => SubscriptionFailure::Auth,
            Refusal::InvalidChannel => SubscriptionFailure::InvalidChannel,
            Refusal::LimitReached => SubscriptionFailure::LimitReached,
        });
        self.ctx.console_tap.emit_client_supplied(&self.app.id, "subscription_failed", || {
            serde_json::json!({"socket_id": self.socket_id, "channel": channel, "reason": message})
        });
        match self.ctx.config.subscription_error_mode {
            SubscriptionErrorMode::Soketi => messages::subscription_error(
                channel,
                refusal.error_type(),
                &message,
                refusal.status(),
            ),
            SubscriptionErrorMode::Pusher => messages::error(None, &message, Some(channel)),
        }
    }

    /// Leaves a channel; the cluster view decides whether the user left the channel for good.
    pub(crate) fn unsubscribe(&mut self, channel: &str) {
        if !self.channels.remove(channel) {
            return;
        }
        let cluster = &self.ctx.cluster;
        let mut view = cluster.lock();
        let left = self.registry.unsubscribe(channel, self.socket.id());
        if !left.was_subscribed {
            return;
        }
        let mut changes = vec![Change::Count {
            channel: channel.to_string(),
            count: left.local_count,
        }];
        if let Some(user_id) = left.member_removed {
            changes.push(Change::MemberLeft {
                channel: channel.to_string(),
                user_id,
            });
        }
        let transitions = cluster.apply_local(&mut view, &self.app.id, changes, Instant::now());
        let flushes = effects::apply(&self.ctx, &view, transitions, None);
        drop(view);
        flushes.flush();
    }

    /// Leaves every channel and signs out; called once when the socket closes.
    pub fn leave_all(&mut self) {
        for channel in self.channels.names() {
            self.unsubscribe(&channel);
        }
        if let Some(user) = self.user.take() {
            self.registry
                .users
                .unwatch(self.socket.id(), &user.watchlist);
            let cluster = &self.ctx.cluster;
            let mut view = cluster.lock();
            if self.registry.users.sign_out(&user.id, self.socket.id()) {
                let changes = vec![Change::UserOffline { user_id: user.id }];
                let transitions =
                    cluster.apply_local(&mut view, &self.app.id, changes, Instant::now());
                let flushes = effects::apply(&self.ctx, &view, transitions, None);
                drop(view);
                flushes.flush();
            }
        }
    }

    /// `pusher:signin`: verifies the signature over `socket_id::user::user_data`, records the
    /// user, and starts its watchlist.
    fn signin(&mut self, auth: &str, user_data: &str) -> Vec<String> {
        let refuse = |message: String| {
            tracing::info!(socket_id = %self.socket_id, app_id = %self.app.id, reason = %message, "sign-in refused");
            self.ctx.console_tap.emit_client_supplied(
                &self.app.id,
                "signin_refused",
                || serde_json::json!({"socket_id": self.socket_id, "reason": message}),
            );
            vec![messages::error(
                Some(ErrorCode::Unauthorized),
                &message,
                None,
            )]
        };
        if !self.app.enable_user_authentication {
            return refuse(format!(
                "user authentication is disabled for app '{}': enable_user_authentication is off",
                self.app.id
            ));
        }
        let to_sign = user_string_to_sign(&self.socket_id, user_data);
        if let Err(err) = verify_token(&self.app.key, &self.app.secret, &to_sign, Some(auth)) {
            return refuse(format!("sign-in refused: {err}"));
        }
        let user = match parse_user_data(user_data) {
            Ok(user) => user,
            Err(message) => return refuse(format!("sign-in refused: {message}")),
        };
        if let Some(current) = &self.user {
            if current.id != user.id {
                return refuse(format!(
                    "sign-in refused: this connection is already signed in as '{}'",
                    current.id
                ));
            }
            return vec![messages::signin_success(user_data)];
        }
        self.socket.set_authorized();
        let mut replies = vec![messages::signin_success(user_data)];
        if user.n_dropped > 0 {
            replies.push(messages::error(
                Some(ErrorCode::WatchlistLimit),
                &format!(
                    "watchlist has {} ids, the limit is {MAX_WATCHLIST}: the first {MAX_WATCHLIST} are watched",
                    MAX_WATCHLIST + user.n_dropped
                ),
                None,
            ));
        }
        let cluster = &self.ctx.cluster;
        let mut view = cluster.lock();
        if !user.watchlist.is_empty() {
            self.registry.users.watch(&self.socket, &user.watchlist);
            let (online, offline): (Vec<&str>, Vec<&str>) = user
                .watchlist
                .iter()
                .map(String::as_str)
                .partition(|id| view.is_online(&self.app.id, id));
            let events: Vec<WatchlistEvent<'_>> = [("online", online), ("offline", offline)]
                .into_iter()
                .filter(|(_, ids)| !ids.is_empty())
                .map(|(name, user_ids)| WatchlistEvent { name, user_ids })
                .collect();
            replies.push(messages::watchlist_events(&events));
        }
        let mut flushes = Flushes::new();
        if self.registry.users.sign_in(&user.id, &self.socket) {
            let changes = vec![Change::UserOnline {
                user_id: user.id.clone(),
            }];
            let transitions = cluster.apply_local(&mut view, &self.app.id, changes, Instant::now());
            flushes = effects::apply(&self.ctx, &view, transitions, None);
        }
        drop(view);
        flushes.flush();
        tracing::debug!(socket_id = %self.socket_id, app_id = %self.app.id, user_id = %user.id, "signed in");
        self.user = Some(user);
        replies
    }

    fn client_event(&mut self, event: &str, channel: &str, data: &RawValue) -> Option<String> {
        // Refusals are shown where a developer looks (the log and the console): the sender
        // only gets a pusher:error that pusher-js does not surface by default.
        let refuse = |message: String| {
            tracing::info!(
                socket_id = %self.socket_id, app_id = %self.app.id, channel, event,
                reason = %message, "client event refused"
            );
            self.ctx.console_tap.emit_client_supplied(&self.app.id, "client_event_refused", || {
                serde_json::json!({
                    "socket_id": self.socket_id, "channel": channel, "event": event, "reason": message,
                })
            });
            Some(messages::error(
                Some(ErrorCode::ClientEventRejected),
                &message,
                Some(channel),
            ))
        };
        if !self.app.enable_client_messages {
            return refuse(format!(
                "client events are disabled for app '{}': enable client messages in its configuration",
                self.app.id
            ));
        }
        let max_name = self.app.limits.max_event_name_length;
        if event.chars().count() > max_name {
            return refuse(format!("event name is longer than {max_name} characters"));
        }
        if !kind_of(channel).allows_client_events() {
            return refuse(format!(
                "client event rejected: '{channel}' is not a private or presence channel"
            ));
        }
        let Some(user_id) = self.channels.get(channel) else {
            return refuse(format!(
                "client event rejected: this connection is not subscribed to '{channel}'"
            ));
        };
        let max_bytes = self.app.limits.max_event_payload_bytes;
        if data.get().len() > max_bytes {
            return refuse(format!(
                "client event data is {} bytes, the limit is {max_bytes}",
                data.get().len()
            ));
        }
        if let Some(rate) = &mut self.client_events {
            if !rate.allow(Instant::now()) {
                self.metrics.rate_limited(Limit::ClientEvents);
                let per_second = self.app.limits.max_client_events_per_second.unwrap_or(0);
                return refuse(format!(
                    "client event rate limit exceeded: at most {per_second} per second per connection"
                ));
            }
        }
        let frame = messages::client_event(event, channel, data, user_id);
        self.ctx.cluster.send_with(|| NodeMessage::Broadcast {
            app: self.app.id.clone(),
            channel: channel.to_string(),
            frame: frame.clone(),
            except: Some(self.socket_id.clone()),
            cache: None,
        });
        let mut flushes = Flushes::new();
        let reached = self.registry.broadcast(
            channel,
            &Frame::from(frame),
            Some(self.socket.id()),
            &mut flushes,
        );
        flushes.flush();
        self.ctx.console_tap.count_messages(&self.app.id, reached);
        self.ctx.console_tap.emit(&self.app.id, "client_event", || {
            serde_json::json!({
                "socket_id": self.socket_id, "channel": channel, "event": event, "size": data.get().len(),
            })
        });
        // Checked first so apps without webhooks never copy the event data.
        if !self.app.webhooks.is_empty() {
            let webhook =
                WebhookEvent::client_event(channel, event, data.get(), &self.socket_id, user_id);
            self.ctx.webhooks.emit(&self.app, webhook);
        }
        None
    }
}
