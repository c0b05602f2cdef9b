//! Live call updates, published after each committed change for whoever listens (the
//! WebSocket stream). Publishing never blocks and never fails ingestion: a listener that falls
//! behind loses old updates, not the gateway's time.

use chrono::{DateTime, Utc};
use plugin_api::{Call, CallId, CallStatus, TranscriptTurn, Turn};
use tokio::sync::broadcast;

use crate::store::Applied;

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
}

/// Fan-out of [`CallUpdate`]s to every subscriber in this process.
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
    pub fn publish(&self, applied: &Applied) {
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
                .map(|change| CallUpdate::Status {
                    call_id,
                    from: change.from,
                    to: change.to,
                    reason: change.reason.clone(),
                    at: change.at,
                }),
        );
        if applied.status_changes.iter().any(|c| c.to.is_terminal()) {
            updates.push(CallUpdate::Completed(Box::new(applied.call.clone())));
        }
        for update in updates {
            // No subscriber is not an error: nobody is watching this call.
            let _ = self.sender.send(update);
        }
    }
}
