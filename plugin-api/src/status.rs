//! The call status state machine.
//!
//! `queued -> initiating -> ringing -> in_progress -> completed | failed | no_answer | busy | canceled`.
//! Vendors deliver events late, twice and out of order, so a transition may only move a call
//! forward; a terminal call stays terminal. Stale events are still worth recording (the gateway
//! keeps them in the call's history), they just never change the current status.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The normalized status of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Stored by the gateway, not yet handed to the provider.
    Queued,
    /// The provider is being asked to place the call.
    Initiating,
    /// The callee's phone is ringing.
    Ringing,
    /// The callee answered; the conversation is running.
    InProgress,
    /// The conversation ended normally.
    Completed,
    /// The call could not be placed or broke off with an error.
    Failed,
    /// Nobody answered.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The call was canceled before it was answered, or hung up through the gateway's API.
    Canceled,
}

/// What applying a status to a call whose status is `from` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The status moves forward: apply it.
    Advance,
    /// The call already has this status (a duplicate or repeated event): nothing to do.
    Unchanged,
    /// The event is older than what the call already went through (e.g. `ringing` after
    /// `in_progress`): record it in history, do not regress.
    Stale,
    /// The call already ended with another terminal status: it stays as it is.
    AfterTerminal,
}

impl Transition {
    /// Whether the call's current status changes.
    pub fn applies(self) -> bool {
        self == Transition::Advance
    }
}

impl CallStatus {
    pub const ALL: [CallStatus; 9] = [
        CallStatus::Queued,
        CallStatus::Initiating,
        CallStatus::Ringing,
        CallStatus::InProgress,
        CallStatus::Completed,
        CallStatus::Failed,
        CallStatus::NoAnswer,
        CallStatus::Busy,
        CallStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Initiating => "initiating",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in_progress",
            CallStatus::Completed => "completed",
            CallStatus::Failed => "failed",
            CallStatus::NoAnswer => "no_answer",
            CallStatus::Busy => "busy",
            CallStatus::Canceled => "canceled",
        }
    }

    /// Whether the call has ended; a terminal status never changes.
    pub fn is_terminal(self) -> bool {
        self.stage() == 4
    }

    /// Position along the call's life; all terminal statuses share the last stage.
    fn stage(self) -> u8 {
        match self {
            CallStatus::Queued => 0,
            CallStatus::Initiating => 1,
            CallStatus::Ringing => 2,
            CallStatus::InProgress => 3,
            CallStatus::Completed
            | CallStatus::Failed
            | CallStatus::NoAnswer
            | CallStatus::Busy
            | CallStatus::Canceled => 4,
        }
    }

    /// Classifies moving from `self` to `to`.
    pub fn transition_to(self, to: CallStatus) -> Transition {
        if self == to {
            Transition::Unchanged
        } else if self.is_terminal() {
            Transition::AfterTerminal
        } else if to.stage() > self.stage() {
            Transition::Advance
        } else {
            Transition::Stale
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string is not one of the normalized statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call status '{0}'")]
pub struct UnknownStatus(pub String);

impl FromStr for CallStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CallStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallStatus::*;

    const TERMINAL: [CallStatus; 5] = [Completed, Failed, NoAnswer, Busy, Canceled];

    /// The expected verdict for every ordered pair, written out independently of `stage()`.
    fn expected(from: CallStatus, to: CallStatus) -> Transition {
        let order = [Queued, Initiating, Ringing, InProgress];
        let position = |s: CallStatus| order.iter().position(|o| *o == s);
        match (position(from), position(to)) {
            _ if from == to => Transition::Unchanged,
            (None, _) => Transition::AfterTerminal,
            (Some(_), None) => Transition::Advance,
            (Some(a), Some(b)) if b > a => Transition::Advance,
            _ => Transition::Stale,
        }
    }

    #[test]
    fn every_pair_of_statuses() {
        let mut checked = 0;
        for from in CallStatus::ALL {
            for to in CallStatus::ALL {
                assert_eq!(from.transition_to(to), expected(from, to), "{from} -> {to}");
                checked += 1;
            }
        }
        assert_eq!(checked, 81);
    }

    #[test]
    fn happy_path_advances() {
        let path = [Queued, Initiating, Ringing, InProgress, Completed];
        for pair in path.windows(2) {
            assert_eq!(pair[0].transition_to(pair[1]), Transition::Advance);
        }
    }

    #[test]
    fn late_ringing_does_not_regress() {
        assert_eq!(InProgress.transition_to(Ringing), Transition::Stale);
        assert!(!InProgress.transition_to(Ringing).applies());
    }

    #[test]
    fn terminal_stays_terminal() {
        for from in TERMINAL {
            for to in CallStatus::ALL {
                assert!(!from.transition_to(to).applies(), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn skipping_stages_is_allowed() {
        assert!(Queued.transition_to(Failed).applies());
        assert!(Initiating.transition_to(InProgress).applies());
    }

    #[test]
    fn round_trips_through_strings() {
        for status in CallStatus::ALL {
            assert_eq!(status.as_str().parse::<CallStatus>(), Ok(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{status}\""));
        }
        assert!("ended".parse::<CallStatus>().is_err());
    }
}
