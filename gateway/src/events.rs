//! Live call updates, published after each committed change for whoever listens (the
//! WebSocket stream). Publishing never blocks and never fails ingestion: a listener that falls
//! behind loses old updates, not the gateway's time.

use chrono::{DateTime, Utc};
use plugin_api::{Call, CallId, CallStatus, TranscriptTurn, Turn};
use tokio::sync::broadcast;

use tracing::{Instrument, info_span, warn};

use crate::store::{Applied, ChangeSink, Heard, Notice, StatusChange, Store, StoreError};

/// One change to a call, after it was stored.
#[derive(Debug, Clone)]
pub enum CallUpdate {
    Status {
        call_id: CallId,
        from: CallStatus,
        to: CallStatus,
        reason: Option<String>,
        at: DateTime<Utc>,
    },
    Turn(TranscriptTurn),
    PartialTurn {
        call_id: CallId,
        turn: Turn,
    },
    /// The call reached a terminal status; sent after that status.
    Completed(Box<Call>),
    /// Another instance stored transcript turns of this call: subscribers read them from the
    /// store (after the last one they sent).
    Stored(CallId),
    /// Updates may have been lost (another instance's, while this one was not listening):
    /// every subscriber catches up from the store.
    Resync,
    /// This call changed lately and its notice may have been lost (the periodic resync): its
    /// subscribers catch up from the store (nothing is sent to those who saw it all).
    Changed(CallId),
    /// Not about a call: the credentials of this principal (an API key's or a user's id) were
    /// revoked, or may have been; its live connections check theirs again.
    CredentialsRevoked(String),
}

impl CallUpdate {
    /// The call it is about; `None` for [`CallUpdate::Resync`] and
    /// [`CallUpdate::CredentialsRevoked`].
    pub fn call_id(&self) -> Option<CallId> {
        match self {
            CallUpdate::Status { call_id, .. }
            | CallUpdate::PartialTurn { call_id, .. }
            | CallUpdate::Stored(call_id)
            | CallUpdate::Changed(call_id) => Some(*call_id),
            CallUpdate::Turn(turn) => Some(turn.call_id),
            CallUpdate::Completed(call) => Some(call.id),
            CallUpdate::Resync | CallUpdate::CredentialsRevoked(_) => None,
        }
    }

    fn status(call_id: CallId, change: StatusChange) -> Self {
        CallUpdate::Status {
            call_id,
            from: change.from,
            to: change.to,
            reason: change.reason,
            at: change.at,
        }
    }
}

/// Fan-out of [`CallUpdate`]s to every subscriber in this process. The store publishes each
/// committed change to it (see [`ChangeSink`]).
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<CallUpdate>,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CallUpdate> {
        self.sender.subscribe()
    }

    /// Publishes what `applied` changed, in order: turns, then status changes, then completion.
    fn publish(&self, applied: &Applied) {
        let call_id = applied.call.id;
        let mut updates: Vec<CallUpdate> = applied
            .new_turns
            .iter()
            .cloned()
            .map(CallUpdate::Turn)
            .collect();
        updates.extend(
            applied
                .partial_turns
                .iter()
                .map(|turn| CallUpdate::PartialTurn {
                    call_id,
                    turn: turn.clone(),
                }),
        );
        updates.extend(
            applied
                .status_changes
                .iter()
                .map(|change| CallUpdate::status(call_id, change.clone())),
        );
        if applied.ended() {
            updates.push(CallUpdate::Completed(Box::new(applied.call.clone())));
        }
        self.send_all(updates);
    }

    /// Publishes what another instance changed, in the same order as [`Hub::publish`]; the
    /// call (read from the store) comes along when the notice says it ended.
    pub fn publish_remote(&self, notice: Notice, ended: Option<Call>) {
        let call_id = notice.call_id;
        let mut updates = Vec::new();
        if notice.turns {
            updates.push(CallUpdate::Stored(call_id));
        }
        updates.extend(
            notice
                .partial_turns
                .into_iter()
                .map(|turn| CallUpdate::PartialTurn { call_id, turn }),
        );
        updates.extend(
            notice
                .status_changes
                .into_iter()
                .map(|change| CallUpdate::status(call_id, change)),
        );
        updates.extend(ended.map(|call| CallUpdate::Completed(Box::new(call))));
        self.send_all(updates);
    }

    /// Tells every subscriber to catch up from the store.
    pub fn resync(&self) {
        self.send_all([CallUpdate::Resync]);
    }

    /// Tells the connections of `principal` to check their credential again.
    pub fn credentials_revoked(&self, principal: &str) {
        self.send_all([CallUpdate::CredentialsRevoked(principal.to_owned())]);
    }

    fn send_all(&self, updates: impl IntoIterator<Item = CallUpdate>) {
        for update in updates {
            // No subscriber is not an error: nobody is watching this call.
            let _ = self.sender.send(update);
        }
    }
}

impl ChangeSink for Hub {
    fn committed(&self, applied: &Applied) {
        self.publish(applied);
    }

    fn credentials_revoked(&self, principal: &str) {
        Hub::credentials_revoked(self, principal);
    }
}

/// Passes other instances' changes and revocations (PostgreSQL `LISTEN`) to this instance's
/// subscribers.
/// `None` on SQLite, where this is the only instance.
pub async fn spawn_relay(
    store: &Store,
    hub: &Hub,
) -> Result<Option<tokio::task::JoinHandle<()>>, StoreError> {
    let Some(mut listener) = store.change_listener().await? else {
        return Ok(None);
    };
    let (store, hub) = (store.clone(), hub.clone());
    let relay = async move {
        loop {
            match listener.next().await {
                Heard::Changed(notice) => {
                    let ended = if notice.completed {
                        match store.get_call(notice.call_id).await {
                            Ok(call) => call,
                            Err(e) => {
                                // Subscribers still get the status; the call comes on resync.
                                warn!(call_id = %notice.call_id, error = %e, "cannot read an ended call");
                                None
                            }
                        }
                    } else {
                        None
                    };
                    hub.publish_remote(notice, ended);
                }
                Heard::Revoked(principal) => hub.credentials_revoked(&principal),
                // Revocations may have been missed too: resyncing connections check their
                // credentials again.
                Heard::Lost => hub.resync(),
            }
        }
    };
    Ok(Some(tokio::spawn(
        relay.instrument(info_span!(parent: None, "change_relay")),
    )))
}

/// Calls the periodic resync looks at per round; when more changed, every subscriber catches
/// up instead (one store read per subscription, as after a lost listening connection).
pub const RESYNC_BATCH: u32 = 500;

/// PostgreSQL: every `[live] resync_secs`, the calls with events since the last round (with
/// one interval of overlap, for transactions that committed late or clocks a little apart)
/// are passed to their subscribers as [`CallUpdate::Changed`], so a change whose notice was
/// lost still arrives. Bounded: one indexed query of at most [`RESYNC_BATCH`] ids per round,
/// a call nobody here follows costs nothing more, and a subscriber that saw everything is sent
/// nothing. `None` on SQLite (one instance, nothing lost).
pub fn spawn_resync(
    store: &Store,
    hub: &Hub,
    every: std::time::Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    store.schema()?;
    let (store, hub) = (store.clone(), hub.clone());
    let overlap = chrono::TimeDelta::from_std(every).unwrap_or(chrono::TimeDelta::seconds(30));
    let task = async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut since = Utc::now() - overlap;
        loop {
            ticker.tick().await;
            let round = Utc::now();
            match store.calls_changed_since(since, RESYNC_BATCH).await {
                Ok(ids) if ids.len() >= RESYNC_BATCH as usize => hub.resync(),
                Ok(ids) => hub.send_all(ids.into_iter().map(CallUpdate::Changed)),
                Err(e) => {
                    // The next round looks further back.
                    warn!(error = %e, "cannot look for changed calls to resync");
                    continue;
                }
            }
            since = round - overlap;
        }
    };
    Some(tokio::spawn(
        task.instrument(info_span!(parent: None, "live_resync")),
    ))
}
