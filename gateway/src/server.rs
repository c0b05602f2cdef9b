//! Assembles the routes and runs the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, EndpointExt, Route, Server, get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::auth::{self, Auth};
use crate::config::Settings;
use crate::gateway::Gateway;
use crate::store::{Store, StoreError};
use crate::{api, delivery, events, http, live, reconcile, recovery, retention, webhooks, ws};

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("authentication setup failed: {0}")]
    Auth(String),
    /// Another gateway serves this SQLite database (or a restore is replacing it).
    #[error("{0}")]
    InUse(String),
}

/// Every route of the gateway.
pub fn app(gateway: Arc<Gateway>, live: Arc<live::LiveStream>) -> impl Endpoint {
    let service = api::service();
    let (spec, docs) = api::spec_endpoints();
    let max_body = usize::try_from(gateway.settings.server.max_body_bytes).unwrap_or(usize::MAX);
    let budget = webhooks::BodyBudget::new(&gateway.settings.server);
    let cors_origins = gateway.settings.server.cors_origins.clone();
    let routes = Route::new()
        .at("/openapi.json", get(spec))
        .at("/asyncapi.json", get(live::asyncapi_document))
        .nest("/docs", docs)
        .at(
            "/webhooks/:provider",
            post(webhooks::provider_webhook).data(budget.clone()),
        )
        .at(
            "/webhooks/:provider/:topic",
            post(webhooks::provider_topic_webhook).data(budget),
        )
        .at(
            "/ws/test",
            get(ws::echo_socket).data(ws::EchoSockets::new(&gateway.settings.server)),
        )
        .at("/ws/calls/transcriptions", get(live::transcriptions))
        .nest(
            "/",
            service.around(move |next, req| http::limit_body(next, req, max_body)),
        )
        .data(gateway)
        .data(live);
    http::headers::CorsGate::new(routes, &cors_origins).around(http::around)
}

/// A server running in the background.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    gateway: Arc<Gateway>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    reconciler: Option<JoinHandle<()>>,
    fanout: JoinHandle<()>,
    /// Other instances' changes (PostgreSQL only).
    relay: Option<JoinHandle<()>>,
    /// The live stream's periodic resync (PostgreSQL only).
    resync: Option<JoinHandle<()>>,
    /// The event delivery workers and the pruner.
    delivery: Vec<JoinHandle<()>>,
    /// The retention passes.
    retention: JoinHandle<()>,
    /// SQLite: the database's lock, held while serving (see `crate::backup`).
    lock: Option<crate::backup::DatabaseLock>,
}

impl RunningServer {
    /// The address it listens on (with the real port when `server.port` is 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Stops accepting, lets running requests finish (up to 10 s), and closes the database.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(reconciler) = self.reconciler.take() {
            reconciler.abort();
        }
        self.fanout.abort();
        if let Some(relay) = self.relay.take() {
            relay.abort();
        }
        if let Some(resync) = self.resync.take() {
            resync.abort();
        }
        for task in self.delivery.drain(..) {
            task.abort();
        }
        self.retention.abort();
        let _ = (&mut self.retention).await;
        // A pass cut off mid-way leaves its lease behind: another instance need not wait it out.
        retention::release(&self.gateway.store).await;
        let result = self
            .task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.gateway.cancel_scheduled();
        self.gateway.store.close().await;
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
        result
    }
}

/// Applies migrations, waiting up to `wait` for a database that is not reachable yet (services
/// started together, such as compose's, come up in any order).
async fn migrate_when_reachable(store: &Store, wait: Duration) -> Result<(), StoreError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match store.migrate().await {
            Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                warn!(error = %e, "database not reachable yet; waiting for it");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            outcome => return outcome,
        }
    }
}

/// Opens the database, applies migrations, and starts serving.
pub async fn start(settings: Settings) -> Result<RunningServer, StartError> {
    // One gateway per SQLite database, and none while `restore` replaces it.
    let lock = match crate::config::Backend::from_url(&settings.database.url) {
        Ok(crate::config::Backend::Sqlite) => {
            match crate::backup::database_file(&settings.database) {
                Ok(file) => Some(
                    crate::backup::DatabaseLock::acquire(&file)
                        .await
                        .map_err(StartError::InUse)?,
                ),
                Err(_) => None, // in memory
            }
        }
        _ => None,
    };
    let store = Store::open(&settings.database).await?;
    migrate_when_reachable(
        &store,
        Duration::from_secs(settings.database.startup_wait_secs),
    )
    .await?;
    let address = format!("{}:{}", settings.server.host, settings.server.port);
    let secret = auth::secret::resolve(&settings.auth, settings.log.environment)
        .await
        .map_err(StartError::Auth)?;
    let proxies = auth::client::TrustedProxies::new(settings.server.trusted_proxy_ranges());
    let auth = Auth::new(&settings.auth, proxies, &secret)
        .await
        .map_err(StartError::Auth)?;
    let gateway = Gateway::new(settings, store, auth)?;
    let relay = events::spawn_relay(&gateway.store, &gateway.hub).await?;
    let resync = events::spawn_resync(
        &gateway.store,
        &gateway.hub,
        Duration::from_secs(gateway.settings.live.resync_secs),
    );
    let bind_error = |source| StartError::Bind {
        address: address.clone(),
        source,
    };
    let acceptor = TcpListener::bind(address.clone())
        .into_acceptor()
        .await
        .map_err(bind_error)?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| bind_error(std::io::Error::other("no local address")))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let live = live::LiveStream::new(
        gateway.settings.live.clone(),
        gateway.store.clone(),
        Arc::clone(&gateway.auth),
    );
    let fanout = live.spawn_fanout(&gateway.hub);
    let endpoint = app(gateway.clone(), live);
    let task = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                endpoint,
                async {
                    let _ = stopped.await;
                },
                Some(Duration::from_secs(10)),
            )
            .await
    });
    for instance in gateway.providers().values() {
        for warning in instance.provider.startup_warnings() {
            tracing::warn!(provider = %instance.name, "{warning}");
        }
    }
    info!(
        %addr,
        database = gateway.store.backend().name(),
        schema = gateway.store.schema().unwrap_or("-"),
        providers = ?gateway.providers().keys().collect::<Vec<_>>(),
        "voice-gateway listening"
    );
    recovery::sweep(&gateway).await;
    let reconciler = reconcile::spawn(gateway.clone());
    let delivery = delivery::spawn(gateway.clone()).await?;
    let retention = retention::spawn(gateway.clone());
    Ok(RunningServer {
        addr,
        gateway,
        shutdown: Some(stop),
        task,
        reconciler,
        fanout,
        relay,
        resync,
        delivery,
        retention,
        lock,
    })
}
