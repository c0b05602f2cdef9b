//! Change notices between gateway instances that share one PostgreSQL database.
//!
//! After a transaction that changed a call commits, a small notice goes out on a channel every
//! instance LISTENs on; other instances pass it to their live subscribers, who read what changed
//! from the store. Notices are sent by one background task per instance that puts every notice
//! waiting at that moment into one statement: a `NOTIFY` inside each write transaction would make
//! those transactions commit one at a time (PostgreSQL serializes notifying commits), costing
//! group commit its throughput; see docs/benchmarks.md.
//!
//! The same channel carries revocations (an API key's or a user's credentials were revoked), so
//! every instance's live connections of that principal check their credential again.
//!
//! Notices are not stored. While an instance's listening connection is down it misses them, so
//! after reconnecting it reports [`Heard::Lost`] and its subscribers catch up from the store. A
//! notice an instance could not send (it died right after a commit, or the database went away)
//! is caught up with the call's next notice. SQLite has one instance and sends no notices.

use std::time::Duration;

use plugin_api::{CallId, Turn};
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tracing::{Instrument, info, info_span, warn};

use super::apply::{Applied, StatusChange};
use super::changes::ChangeSink;
use super::sql::Statement;
use super::{Backend, Store, StoreError};

/// PostgreSQL's limit on a notice's payload is 8000 bytes; partial turns beyond this budget are
/// left out (they are ephemeral; the final turns are stored and read from the store).
const PAYLOAD_BUDGET: usize = 7500;
/// PostgreSQL's identifiers (channel names included) are at most 63 bytes.
const MAX_CHANNEL_LEN: usize = 63;
/// Longest wait between two attempts to reconnect the listening connection.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(5);
/// Notices waiting to be sent; beyond this (the database is too slow or away) new ones are
/// dropped, and the calls they were about are caught up with their next notice.
const QUEUE: usize = 10_000;
/// Notices sent by one statement at most.
const BATCH: usize = 64;
/// After a notice arrives, how long the task waits for more to send with it: every statement
/// with notices is a transaction, and wakes every listening connection.
const GATHER: Duration = Duration::from_millis(2);

/// What another instance changed about a call. On the wire, the payload is the sending
/// instance's id, a space, and the notice as JSON: an instance skips its own notices without
/// parsing them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub call_id: CallId,
    /// Whether transcript turns were stored (subscribers read them from the store).
    #[serde(default)]
    pub turns: bool,
    #[serde(default)]
    pub status_changes: Vec<StatusChange>,
    /// Whether the call reached a terminal status (subscribers get the call from the store).
    #[serde(default)]
    pub completed: bool,
    /// Partial turns are never stored, so they travel in the notice (when they fit).
    #[serde(default)]
    pub partial_turns: Vec<Turn>,
}

impl Notice {
    fn of(applied: &Applied) -> Self {
        let mut notice = Notice {
            call_id: applied.call.id,
            turns: !applied.new_turns.is_empty(),
            status_changes: applied.status_changes.clone(),
            completed: applied.ended(),
            partial_turns: applied.partial_turns.clone(),
        };
        if notice.payload().len() > PAYLOAD_BUDGET {
            notice.partial_turns.clear();
        }
        notice
    }

    fn payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        !self.turns && self.status_changes.is_empty() && self.partial_turns.is_empty()
    }
}

/// Another instance revoked (or may have revoked) a principal's credentials: its live
/// connections here check theirs again. On the wire, after the origin: `{"revoked": "<id>"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Revocation {
    /// The API key's or user's id.
    revoked: String,
}

/// The channel the instances on one schema share.
fn channel(schema: &str) -> String {
    let mut name = format!("voice_gateway_{schema}");
    name.truncate(MAX_CHANNEL_LEN);
    name
}

/// The sending side: queues notices for the background task that sends them.
#[derive(Debug, Clone)]
pub(super) struct Announcer {
    origin: String,
    queue: mpsc::Sender<String>,
}

impl Announcer {
    /// Starts the task that sends this instance's notices through `pool`.
    pub(super) fn spawn(pool: AnyPool, schema: &str, origin: &str) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let channel = channel(schema);
        tokio::spawn(
            send_notices(pool, channel, waiting)
                .instrument(info_span!(parent: None, "change_notices")),
        );
        Self {
            origin: origin.to_owned(),
            queue,
        }
    }
}

impl ChangeSink for Announcer {
    fn committed(&self, applied: &Applied) {
        let notice = Notice::of(applied);
        if notice.is_empty() {
            return;
        }
        let payload = format!("{} {}", self.origin, notice.payload());
        if self.queue.try_send(payload).is_err() {
            warn!(call_id = %notice.call_id, "change notice dropped: too many waiting");
        }
    }

    fn credentials_revoked(&self, principal: &str) {
        let revocation = Revocation {
            revoked: principal.to_owned(),
        };
        let payload = format!(
            "{} {}",
            self.origin,
            serde_json::to_string(&revocation).unwrap_or_default()
        );
        if self.queue.try_send(payload).is_err() {
            // Other instances' periodic re-validation still closes those connections.
            warn!("revocation notice dropped: too many waiting");
        }
    }
}

/// Sends queued notices until every [`Announcer`] is gone: all those waiting at once in one
/// statement (a notice failing to go out is not retried; see the module's documentation).
async fn send_notices(pool: AnyPool, channel: String, mut waiting: mpsc::Receiver<String>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = waiting.recv().await {
        batch.push(first);
        tokio::time::sleep(GATHER).await;
        while batch.len() < BATCH {
            match waiting.try_recv() {
                Ok(payload) => batch.push(payload),
                Err(_) => break,
            }
        }
        let mut statement = Statement::new("SELECT ");
        for (index, payload) in batch.drain(..).enumerate() {
            if index > 0 {
                statement.push(", ");
            }
            statement
                .push("pg_notify(")
                .bind(channel.clone())
                .push(", ")
                .bind(payload)
                .push(")");
        }
        if let Err(e) = statement.build().execute(&pool).await {
            warn!(error = %e, "cannot send change notices to other instances");
        }
    }
}

impl Store {
    /// Listens for other instances' changes, already connected, so nothing committed after
    /// this returns is missed; `None` on SQLite (one instance, nothing to hear).
    pub async fn change_listener(&self) -> Result<Option<ChangeListener>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = ChangeListener {
            url: self.url.clone(),
            channel: channel(&self.schema),
            origin: self.instance.clone(),
            listener: None,
            lost: false,
        };
        listener.listener = Some(listener.connect().await?);
        Ok(Some(listener))
    }
}

/// What the listener heard.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// Another instance changed a call.
    Changed(Notice),
    /// Another instance revoked (or may have revoked) the credentials of this principal (an
    /// API key's or a user's id).
    Revoked(String),
    /// The listening connection was lost and is back: notices in between are gone, so whoever
    /// relies on them must catch up from the store.
    Lost,
}

/// A dedicated connection LISTENing for other instances' notices, reconnected when lost.
pub struct ChangeListener {
    url: String,
    channel: String,
    origin: String,
    listener: Option<PgListener>,
    lost: bool,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("channel", &self.channel)
            .field("connected", &self.listener.is_some())
            .finish()
    }
}

impl ChangeListener {
    /// The next notice from another instance, or [`Heard::Lost`] after a reconnection. Waits
    /// (reconnecting with backoff) as long as it takes.
    pub async fn next(&mut self) -> Heard {
        let mut wait = Duration::from_millis(100);
        loop {
            let Some(listener) = self.listener.as_mut() else {
                match self.connect().await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        wait = Duration::from_millis(100);
                        if std::mem::take(&mut self.lost) {
                            info!(channel = %self.channel, "change listener reconnected");
                            return Heard::Lost;
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot listen for other instances' changes");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(MAX_RECONNECT_WAIT);
                    }
                }
                continue;
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let Some((origin, notice)) = notification.payload().split_once(' ') else {
                        warn!("ignoring a change notice without its origin");
                        continue;
                    };
                    if origin == self.origin {
                        continue;
                    }
                    if let Ok(revocation) = serde_json::from_str::<Revocation>(notice) {
                        return Heard::Revoked(revocation.revoked);
                    }
                    match serde_json::from_str::<Notice>(notice) {
                        Ok(notice) => return Heard::Changed(notice),
                        Err(e) => warn!(error = %e, "ignoring a malformed change notice"),
                    }
                }
                // The connection dropped: reconnect ourselves, so a successful reconnection is
                // known (and reported) before anything else.
                Ok(None) => self.drop_connection("connection lost"),
                Err(e) => self.drop_connection(&e.to_string()),
            }
        }
    }

    fn drop_connection(&mut self, why: &str) {
        warn!(
            reason = why,
            "change listener lost its connection; reconnecting"
        );
        self.listener = None;
        self.lost = true;
    }

    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect(&self.url).await?;
        listener.ignore_pool_close_event(true);
        listener.listen(&self.channel).await?;
        Ok(listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use plugin_api::{CallStatus, Speaker, TranscriptSource};

    fn applied(partial_text_len: usize) -> Applied {
        let call = crate::store::tests::new_call("echo");
        Applied {
            call,
            status_changes: vec![StatusChange {
                from: CallStatus::InProgress,
                to: CallStatus::Completed,
                reason: None,
                at: Utc::now(),
            }],
            new_turns: Vec::new(),
            partial_turns: vec![Turn {
                speaker: Speaker::User,
                text: "x".repeat(partial_text_len),
                offset_secs: None,
                is_final: false,
                source: TranscriptSource::Live,
                key: None,
            }],
        }
    }

    #[test]
    fn notices_round_trip_and_fit_postgres_payload_limit() {
        let notice = Notice::of(&applied(10));
        assert!(notice.completed && !notice.turns);
        assert_eq!(notice.partial_turns.len(), 1);
        let parsed: Notice = serde_json::from_str(&notice.payload()).expect("parses");
        assert_eq!(parsed, notice);

        let big = Notice::of(&applied(20_000));
        assert!(big.partial_turns.is_empty(), "too big for a notice");
        assert!(
            big.payload().len() + 40 < 8000,
            "with the origin's id and a space"
        );
        assert_eq!(big.status_changes.len(), 1);
    }

    #[test]
    fn revocations_and_call_notices_tell_apart() {
        let revocation = serde_json::to_string(&Revocation {
            revoked: "0193a0c4-5b8e-7f31-9d2e-6c1b0a9f4e21".into(),
        })
        .expect("serializes");
        assert_eq!(
            revocation,
            r#"{"revoked":"0193a0c4-5b8e-7f31-9d2e-6c1b0a9f4e21"}"#
        );
        assert!(serde_json::from_str::<Notice>(&revocation).is_err());
        let notice = Notice::of(&applied(10)).payload();
        assert!(serde_json::from_str::<Revocation>(&notice).is_err());
    }

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel("public"), "voice_gateway_public");
        assert_eq!(channel(&"s".repeat(63)).len(), 63);
    }
}
