//! The audit log: logins, token reuse, user and API-key administration, call creation and
//! hang-ups. Never a password, token or key.

use std::sync::Arc;

use chrono::Utc;
use tracing::error;

use crate::auth::Principal;
use crate::gateway::Gateway;
use crate::http::current_request_id;
use crate::store::AuditEntry;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// Who acted, as far as known.
#[derive(Debug, Clone)]
pub enum Who<'a> {
    Principal(&'a Principal),
    /// Not authenticated (e.g. a failed login), with the name they gave.
    Anonymous(Option<&'a str>),
    /// A user by id and name (e.g. a successful login, before a principal exists).
    User {
        id: &'a str,
        name: &'a str,
    },
    /// The command line.
    Cli,
    /// The gateway itself (e.g. an event endpoint disabled after failing too long).
    System,
}

/// One audited action.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub who: Who<'a>,
    pub action: &'a str,
    pub target: Option<String>,
    pub client_addr: Option<String>,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

/// The longest name an anonymous actor is recorded with, in characters: the sender's text (e.g.
/// a failed login's username) is cut there, so rows stay small whatever is sent.
pub const MAX_ANONYMOUS_NAME_CHARS: usize = 64;

/// `name` cut at [`MAX_ANONYMOUS_NAME_CHARS`], marked with `…` when cut.
fn anonymous_name(name: &str) -> String {
    match name.char_indices().nth(MAX_ANONYMOUS_NAME_CHARS) {
        None => name.to_owned(),
        Some((end, _)) => format!("{}…", &name[..end]),
    }
}

fn entry(record: &Record<'_>) -> AuditEntry {
    let (actor_type, actor_id, actor_name) = match &record.who {
        Who::Principal(p) => (p.kind(), Some(p.id().to_owned()), Some(p.name().to_owned())),
        Who::Anonymous(name) => ("anonymous", None, name.map(anonymous_name)),
        Who::User { id, name } => ("user", Some((*id).to_owned()), Some((*name).to_owned())),
        Who::Cli => ("cli", None, None),
        Who::System => ("system", None, None),
    };
    let request_id = Some(current_request_id()).filter(|id| !id.is_empty());
    AuditEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at: Utc::now(),
        actor_type: actor_type.to_owned(),
        actor_id,
        actor_name,
        action: record.action.to_owned(),
        target: record.target.clone(),
        client_addr: record.client_addr.clone(),
        request_id,
        outcome: record.outcome.as_str().to_owned(),
        detail: record.detail.clone(),
    }
}

/// Appends to the audit log. A failure to write is logged, not returned: the action it records
/// has already happened.
pub async fn record(gateway: &Arc<Gateway>, record: Record<'_>) {
    append(&gateway.store, record).await;
}

pub async fn append(store: &crate::store::Store, record: Record<'_>) {
    if let Err(e) = store.append_audit(&entry(&record)).await {
        error!(error = %e, action = record.action, "audit entry not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_names_are_cut_at_a_character_boundary() {
        assert_eq!(anonymous_name("admin"), "admin");
        let exact = "a".repeat(MAX_ANONYMOUS_NAME_CHARS);
        assert_eq!(anonymous_name(&exact), exact);
        let long = "é".repeat(10_000);
        let cut = anonymous_name(&long);
        assert_eq!(cut.chars().count(), MAX_ANONYMOUS_NAME_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
