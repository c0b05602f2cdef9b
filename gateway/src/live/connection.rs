//! One live-stream connection: its subscriptions, its queue, its keepalive.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use plugin_api::{CallId, CallStatus};
use poem::web::websocket::{CloseCode, Message, WebSocketStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span, warn};

use super::protocol::{ClientMessage, ErrorCode, ServerMessage};
use super::{Feed, Live, LiveStream, Slot};
use crate::auth::{AuthError, Principal};
use crate::events::CallUpdate;
use crate::store::StoreError;

/// Invalid frames (and subscribes to calls that do not exist) tolerated in a row before the
/// connection is closed as abusive.
const MAX_INVALID_IN_A_ROW: u32 = 20;

const EXPIRED: &str = "the token has expired; reconnect with a fresh one and resume with after_seq";

/// What one subscription has delivered, so replays and live updates meet without gap or repeat.
#[derive(Debug)]
struct Subscription {
    identifier: String,
    last_seq: i64,
    last_status: Option<CallStatus>,
}

/// Why a connection ends.
#[derive(Debug)]
enum End {
    /// The client left or the socket broke.
    Gone,
    /// The client cannot keep up (1013).
    Overflow,
    /// The credential expired (1008).
    Expired,
    /// The credential was revoked: API key deleted, user disabled, logged out (1008).
    Revoked,
    /// Too many invalid frames (1008).
    Abuse,
}

struct Conn {
    service: Arc<LiveStream>,
    live: Arc<Live>,
    id: u64,
    /// What the connection authenticated with, checked again on revocations and periodically.
    credential: String,
    out: mpsc::Sender<Message>,
    subscriptions: HashMap<CallId, Subscription>,
}

/// The writer: sends queued frames; a close request goes out as soon as it comes.
async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocketStream, Message>,
    mut frames: mpsc::Receiver<Message>,
    close: oneshot::Receiver<(CloseCode, String)>,
) {
    let mut close = std::pin::pin!(close);
    loop {
        tokio::select! {
            biased;
            reason = &mut close => {
                if let Ok((code, text)) = reason {
                    // What was queued before the close (e.g. the TOKEN_EXPIRED error) goes first;
                    // a stalled client may never read any of it, so all of it is bounded.
                    let flush = async {
                        while let Ok(frame) = frames.try_recv() {
                            sink.send(frame).await?;
                        }
                        sink.send(Message::Close(Some((code, text)))).await
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
                }
                break;
            }
            frame = frames.recv() => match frame {
                Some(frame) => if sink.send(frame).await.is_err() { break },
                None => break,
            },
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

pub(super) async fn serve(
    service: Arc<LiveStream>,
    socket: WebSocketStream,
    principal: Principal,
    credential: String,
    slot: Slot,
) {
    let config = service.config.clone();
    let (sink, mut stream) = socket.split();
    let (out, frames) = mpsc::channel(config.queue_size);
    let (close_tx, close_rx) = oneshot::channel();
    let writer = tokio::spawn(write(sink, frames, close_rx));
    let (feed_tx, mut feed) = mpsc::channel(config.queue_size);
    let overflow = Arc::new(Notify::new());
    let live = Arc::clone(&service.registry);
    let id = live.connect(feed_tx, Arc::clone(&overflow), principal.id());
    let span = info_span!(parent: None, "live", connection = id, principal = %principal.name());
    let mut conn = Conn {
        service,
        live,
        id,
        credential,
        out,
        subscriptions: HashMap::new(),
    };
    let end = async {
        let ping_every = Duration::from_secs(config.ping_interval_secs);
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        // The safety net behind revocation notices (which may be lost): every connection checks
        // its credential again this often, the first time at a random point of the period so
        // that connections opened together do not all check together.
        let revalidate_every = Duration::from_secs(config.revalidate_secs);
        let mut revalidate = tokio::time::interval_at(
            Instant::now() + revalidate_every.mul_f64(rand::random_range(0.5..=1.0)),
            revalidate_every,
        );
        revalidate.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let expires = principal.expires_at.map(|at| {
            let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
            Instant::now() + left
        });
        let expiry = tokio::time::sleep_until(
            expires.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365)),
        );
        let mut expiry = std::pin::pin!(expiry);
        let mut invalid_in_a_row = 0;
        loop {
            let step = tokio::select! {
                frame = stream.next() => {
                    last_heard = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => conn.on_text(&text, config.max_frame_bytes).await,
                        Some(Ok(Message::Binary(_))) => {
                            conn.send(ServerMessage::error(ErrorCode::InvalidMessage, "binary frames are not supported; send JSON text", None))
                                .map(|()| false)
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Err(End::Gone),
                        Some(Ok(_)) => Ok(true),
                    }
                }
                update = feed.recv() => match update {
                    Some(update) => conn.on_feed(update).await.map(|()| true),
                    None => Err(End::Overflow),
                },
                _ = revalidate.tick() => conn.revalidate().await.map(|()| true),
                _ = ping.tick() => {
                    if last_heard.elapsed() > ping_every * 3 {
                        Err(End::Gone)
                    } else {
                        conn.queue(Message::Ping(Vec::new())).map(|()| true)
                    }
                }
                () = &mut expiry, if expires.is_some() => {
                    let _ = conn.send(ServerMessage::error(ErrorCode::TokenExpired, EXPIRED, None));
                    Err(End::Expired)
                }
                () = overflow.notified() => Err(End::Overflow),
            };
            match step {
                Ok(true) => invalid_in_a_row = 0,
                Ok(false) => {
                    invalid_in_a_row += 1;
                    if invalid_in_a_row >= MAX_INVALID_IN_A_ROW {
                        break End::Abuse;
                    }
                }
                Err(end) => break end,
            }
        }
    };
    let end = end.instrument(span.clone()).await;
    span.in_scope(|| debug!(?end, "live stream closed"));
    conn.live
        .disconnect(conn.id, conn.subscriptions.keys().copied());
    let close = match end {
        End::Gone => None,
        End::Overflow => Some((
            CloseCode::Again,
            "too slow: reconnect and resume with after_seq".to_owned(),
        )),
        End::Expired => Some((CloseCode::Policy, "token expired".to_owned())),
        End::Revoked => Some((CloseCode::Policy, "credentials revoked".to_owned())),
        End::Abuse => Some((CloseCode::Policy, "too many invalid messages".to_owned())),
    };
    if let Some(close) = close {
        let _ = close_tx.send(close);
    } else {
        drop(close_tx);
    }
    drop(conn);
    drop(slot);
    let _ = writer.await;
}

/// `Ok(true)` for a valid client frame, `Ok(false)` for an invalid one (answered with an error).
type Step = Result<bool, End>;

fn valid_identifier(identifier: &str) -> bool {
    !identifier.is_empty()
        && identifier.len() <= 128
        && identifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl Conn {
    fn queue(&self, message: Message) -> Result<(), End> {
        self.out.try_send(message).map_err(|_| End::Overflow)
    }

    fn send(&self, message: ServerMessage) -> Result<(), End> {
        self.queue(Message::Text(message.to_text()))
    }

    fn invalid(&self, message: &str) -> Step {
        self.send(ServerMessage::error(
            ErrorCode::InvalidMessage,
            message,
            None,
        ))
        .map(|()| false)
    }

    async fn on_text(&mut self, text: &str, max_bytes: usize) -> Step {
        if text.len() > max_bytes {
            return self.invalid(&format!("messages are limited to {max_bytes} bytes"));
        }
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(e) => {
                return self.invalid(&format!(
                    "expected {{\"subscribe\": id}} or {{\"unsubscribe\": id}}: {e}"
                ));
            }
        };
        match (message.subscribe, message.unsubscribe) {
            (Some(identifier), None) => self.subscribe(identifier, message.after_seq).await,
            (None, Some(identifier)) if message.after_seq.is_none() => self.unsubscribe(identifier),
            _ => self.invalid(
                "send exactly one of subscribe or unsubscribe (after_seq goes with subscribe)",
            ),
        }
    }

    fn store_failed(&self, e: StoreError, identifier: Option<&str>) -> Step {
        warn!(error = %e, "live stream cannot read the store");
        self.send(ServerMessage::error(
            ErrorCode::Internal,
            "storage unavailable; try again",
            identifier,
        ))
        .map(|()| true)
    }

    async fn subscribe(&mut self, identifier: String, after_seq: Option<i64>) -> Step {
        if !valid_identifier(&identifier) {
            let message = ServerMessage::error(
                ErrorCode::InvalidIdentifier,
                "identifiers are 1 to 128 letters, digits, '-', '_', '.', ':'",
                Some(&identifier),
            );
            return self.send(message).map(|()| false);
        }
        if after_seq.is_some_and(|seq| seq < 0) {
            return self.invalid("after_seq must be 0 or more");
        }
        let call = match self.service.store.find_call(&identifier).await {
            Ok(Some(call)) => call,
            Ok(None) => {
                let message = ServerMessage::error(
                    ErrorCode::CallNotFound,
                    "no call with this identifier",
                    Some(&identifier),
                );
                // Counted like an invalid frame: guessing identifiers is not free.
                return self.send(message).map(|()| false);
            }
            Err(e) => return self.store_failed(e, Some(&identifier)),
        };
        let limit = self.service.config.max_subscriptions_per_connection;
        if !self.subscriptions.contains_key(&call.id) && self.subscriptions.len() >= limit {
            let message = ServerMessage::error(
                ErrorCode::TooManySubscriptions,
                format!("at most {limit} calls per connection"),
                Some(&identifier),
            );
            return self.send(message).map(|()| true);
        }
        // Where to start: after `after_seq`, or after the newest turn stored now. Then listen,
        // then send from the store what came after the start: a turn committed in between is
        // both in the store and in the feed, and its sequence number tells the copies apart.
        let start = match after_seq {
            Some(after) => after,
            None => match self.service.store.transcript(call.id, 0).await {
                Ok(turns) => turns.last().map_or(0, |t| t.seq),
                Err(e) => return self.store_failed(e, Some(&identifier)),
            },
        };
        self.live.subscribe(self.id, call.id);
        self.subscriptions.insert(
            call.id,
            Subscription {
                identifier: identifier.clone(),
                last_seq: start,
                last_status: Some(call.status),
            },
        );
        self.send(ServerMessage::SubscriptionConfirmed {
            identifier: identifier.clone(),
            call_id: call.id.to_string(),
            provider: call.provider.clone(),
            provider_call_id: call.provider_call_id.clone(),
            status: call.status,
        })?;
        if let Err(e) = self.catch_up(call.id, start).await? {
            return self.store_failed(e, Some(&identifier));
        }
        if call.status.is_terminal() {
            let previous = self
                .service
                .store
                .previous_status(call.id)
                .await
                .unwrap_or(None);
            self.send(ServerMessage::CallStatus {
                call_id: call.id.to_string(),
                status: call.status,
                previous_status: previous,
                reason: call.status_reason.clone(),
                timestamp: call.ended_at.unwrap_or(call.updated_at),
            })?;
            self.send(ServerMessage::completed(&call))?;
            self.release(call.id);
        }
        Ok(true)
    }

    fn unsubscribe(&mut self, identifier: String) -> Step {
        let found = self
            .subscriptions
            .iter()
            .find(|(id, sub)| sub.identifier == identifier || id.to_string() == identifier)
            .map(|(id, _)| *id);
        if let Some(call) = found {
            self.release(call);
        }
        self.send(ServerMessage::UnsubscribeConfirmed {
            identifier,
            call_id: found.map(|c| c.to_string()),
        })
        .map(|()| true)
    }

    fn release(&mut self, call: CallId) {
        self.subscriptions.remove(&call);
        self.live.unsubscribe(self.id, call);
    }

    /// Sends the stored turns after `after` that this subscription has not sent yet.
    /// Sends the stored turns after `after` that this subscription has not sent yet. The outer
    /// error ends the connection (its queue is full); the inner one is the store's.
    async fn catch_up(&mut self, call: CallId, after: i64) -> Result<Result<(), StoreError>, End> {
        let turns = match self.service.store.transcript(call, after).await {
            Ok(turns) => turns,
            Err(e) => return Ok(Err(e)),
        };
        let Some(sub) = self.subscriptions.get_mut(&call) else {
            return Ok(Ok(()));
        };
        sub.last_seq = after;
        for turn in turns.iter().filter(|t| t.seq > after) {
            // A turn that cannot be queued is never counted as sent: the client resumes from it.
            self.out
                .try_send(Message::Text(ServerMessage::turn(turn).to_text()))
                .map_err(|_| End::Overflow)?;
            sub.last_seq = turn.seq;
        }
        Ok(Ok(()))
    }

    async fn on_feed(&mut self, feed: Feed) -> Result<(), End> {
        match feed {
            Feed::Update(update) => self.on_update(update).await,
            Feed::Resync => {
                self.revalidate().await?;
                self.resync_all().await
            }
            Feed::Revalidate => self.revalidate().await,
        }
    }

    /// Checks the connection's credential again, as the handshake did: a revoked or expired
    /// one ends the connection (after an `UNAUTHORIZED` or `TOKEN_EXPIRED` error frame); a
    /// store that cannot say keeps it open until the next check.
    async fn revalidate(&self) -> Result<(), End> {
        let service = &self.service;
        match service
            .auth
            .authenticate(&service.store, &self.credential)
            .await
        {
            Ok(_) => Ok(()),
            Err(AuthError::Rejected(rejection)) if rejection.code == "token_expired" => {
                let _ = self.send(ServerMessage::error(ErrorCode::TokenExpired, EXPIRED, None));
                Err(End::Expired)
            }
            Err(AuthError::Rejected(_)) => {
                let _ = self.send(ServerMessage::error(
                    ErrorCode::Unauthorized,
                    "the credentials were revoked; the connection closes",
                    None,
                ));
                Err(End::Revoked)
            }
            Err(AuthError::Store(e)) => {
                warn!(error = %e, "cannot check a live connection's credential again");
                Ok(())
            }
        }
    }

    async fn resync_all(&mut self) -> Result<(), End> {
        let calls: Vec<CallId> = self.subscriptions.keys().copied().collect();
        for call in calls {
            self.resync(call).await?;
        }
        Ok(())
    }

    async fn on_update(&mut self, update: CallUpdate) -> Result<(), End> {
        match update {
            CallUpdate::Turn(turn) => {
                let Some(sub) = self.subscriptions.get(&turn.call_id) else {
                    return Ok(());
                };
                if turn.seq <= sub.last_seq {
                    return Ok(());
                }
                if turn.seq == sub.last_seq + 1 {
                    if let Some(sub) = self.subscriptions.get_mut(&turn.call_id) {
                        sub.last_seq = turn.seq;
                    }
                    return self.send(ServerMessage::turn(&turn));
                }
                // A gap: some turns never reached us; the store has them.
                let after = sub.last_seq;
                if let Err(e) = self.catch_up(turn.call_id, after).await? {
                    warn!(error = %e, "cannot fill a gap in the live transcript");
                }
                Ok(())
            }
            CallUpdate::PartialTurn { call_id, turn } => {
                if self.subscriptions.contains_key(&call_id) {
                    self.send(ServerMessage::partial(&call_id.to_string(), &turn))?;
                }
                Ok(())
            }
            CallUpdate::Status {
                call_id,
                from,
                to,
                reason,
                at,
            } => {
                let Some(sub) = self.subscriptions.get_mut(&call_id) else {
                    return Ok(());
                };
                // Only forward: another instance's notices may arrive a little out of order.
                if sub
                    .last_status
                    .is_some_and(|last| !last.transition_to(to).applies())
                {
                    return Ok(());
                }
                sub.last_status = Some(to);
                self.send(ServerMessage::CallStatus {
                    call_id: call_id.to_string(),
                    status: to,
                    previous_status: Some(from),
                    reason,
                    timestamp: at,
                })
            }
            CallUpdate::Completed(call) => {
                if !self.subscriptions.contains_key(&call.id) {
                    return Ok(());
                }
                self.send(ServerMessage::completed(&call))?;
                self.release(call.id);
                Ok(())
            }
            CallUpdate::Stored(call_id) => {
                let Some(after) = self.subscriptions.get(&call_id).map(|s| s.last_seq) else {
                    return Ok(());
                };
                if let Err(e) = self.catch_up(call_id, after).await? {
                    warn!(error = %e, "cannot read turns another instance stored");
                }
                Ok(())
            }
            CallUpdate::Changed(call_id) => self.resync(call_id).await,
            // Routed as `Feed::Resync` and `Feed::Revalidate`; handled the same should they
            // arrive as updates.
            CallUpdate::Resync => {
                self.revalidate().await?;
                self.resync_all().await
            }
            CallUpdate::CredentialsRevoked(_) => self.revalidate().await,
        }
    }

    /// After lost updates: sends what the store has that this subscription has not seen.
    async fn resync(&mut self, call: CallId) -> Result<(), End> {
        let Some(after) = self.subscriptions.get(&call).map(|s| s.last_seq) else {
            return Ok(());
        };
        if let Err(e) = self.catch_up(call, after).await? {
            warn!(error = %e, "cannot resync a live subscription");
            return Ok(());
        }
        let Ok(Some(current)) = self.service.store.get_call(call).await else {
            return Ok(());
        };
        let Some(sub) = self.subscriptions.get_mut(&call) else {
            return Ok(());
        };
        if sub.last_status != Some(current.status) {
            let previous = sub.last_status.replace(current.status);
            self.send(ServerMessage::CallStatus {
                call_id: call.to_string(),
                status: current.status,
                previous_status: previous,
                reason: current.status_reason.clone(),
                timestamp: current.updated_at,
            })?;
            if current.status.is_terminal() {
                self.send(ServerMessage::completed(&current))?;
                self.release(call);
            }
        }
        Ok(())
    }
}
