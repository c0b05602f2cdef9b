//! The running gateway's shared state: what every route and background task works with.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use plugin_api::CallId;
use tokio::task::AbortHandle;

use crate::auth::Auth;
use crate::config::{ProviderInstance, Settings};
use crate::delivery::EndpointClient;
use crate::events::Hub;
use crate::outbound::VendorClient;
use crate::store::Store;

/// Everything a request handler needs, shared behind an `Arc`.
#[derive(Debug)]
pub struct Gateway {
    pub settings: Settings,
    pub store: Store,
    pub auth: Arc<Auth>,
    pub hub: Hub,
    /// Sends what providers describe to their vendors.
    pub vendors: VendorClient,
    /// Sends events to application endpoints.
    pub endpoints: EndpointClient,
    /// Local provider webhooks waiting to be delivered, by call.
    pub(crate) scheduled: Mutex<HashMap<CallId, AbortHandle>>,
    /// When this process's gateway was assembled (see `crate::recovery`).
    pub started_at: chrono::DateTime<chrono::Utc>,
}

impl Gateway {
    pub fn new(settings: Settings, store: Store, auth: Auth) -> Result<Arc<Self>, reqwest::Error> {
        let vendors = VendorClient::new(std::time::Duration::from_millis(
            settings.gateway.outbound_timeout_ms,
        ))?;
        let endpoints = EndpointClient::new(
            std::time::Duration::from_millis(settings.events.request_timeout_ms),
            settings.events.allow_private_destinations,
        )?;
        let hub = Hub::new(4096);
        let store = store.publishing_to(Arc::new(hub.clone()));
        Ok(Arc::new(Self {
            settings,
            store,
            auth: Arc::new(auth),
            hub,
            vendors,
            endpoints,
            scheduled: Mutex::new(HashMap::new()),
            started_at: chrono::Utc::now(),
        }))
    }

    pub fn providers(&self) -> &BTreeMap<String, ProviderInstance> {
        &self.settings.providers
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderInstance> {
        self.settings.providers.get(name)
    }

    /// Whether this process has scripted webhooks of call `id` still to deliver.
    pub fn drives(&self, id: CallId) -> bool {
        self.scheduled
            .lock()
            .is_ok_and(|scheduled| scheduled.contains_key(&id))
    }

    /// Stops the scripted webhooks still pending (at shutdown).
    pub fn cancel_scheduled(&self) {
        if let Ok(mut scheduled) = self.scheduled.lock() {
            for (_, task) in scheduled.drain() {
                task.abort();
            }
        }
    }
}
