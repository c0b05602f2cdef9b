//! Publishing on commit: every write that commits a change to a call hands it to the store's
//! change sinks right after the commit (this instance's live fan-out, the notices to other
//! instances), so no write path can forget to and none publishes twice.

use std::fmt::Debug;
use std::sync::Arc;

use super::Store;
use super::apply::Applied;

/// Receives each committed change to a call, once, right after its commit. Runs on the writer's
/// task, so it must not block or wait: hand the change on (as a channel send does).
pub trait ChangeSink: Send + Sync + Debug {
    fn committed(&self, applied: &Applied);

    /// Credentials of `principal` (an API key's or a user's id) were revoked or may have been
    /// (a key deleted, a user changed or disabled, a login's tokens revoked): whoever holds an
    /// open session for it checks the credential again. Ignored unless a sink cares.
    fn credentials_revoked(&self, _principal: &str) {}
}

/// The sinks a store publishes to, in the order they were added.
#[derive(Debug, Clone, Default)]
pub(super) struct Sinks(Vec<Arc<dyn ChangeSink>>);

impl Sinks {
    pub(super) fn add(&mut self, sink: Arc<dyn ChangeSink>) {
        self.0.push(sink);
    }
}

impl Store {
    /// This store, also publishing every committed change to `sink`.
    pub fn publishing_to(mut self, sink: Arc<dyn ChangeSink>) -> Self {
        self.sinks.add(sink);
        self
    }

    /// After a commit that applied `applied`: publishes it to every sink.
    pub(super) fn committed(&self, applied: &Applied) {
        for sink in &self.sinks.0 {
            sink.committed(applied);
        }
    }

    /// After a commit that revoked (or may have revoked) `principal`'s credentials.
    pub(super) fn credentials_revoked(&self, principal: &str) {
        for sink in &self.sinks.0 {
            sink.credentials_revoked(principal);
        }
    }
}
