//! Providers loaded from shared libraries (`kind = "dylib"`), behind the same trait as built-in
//! ones: the gateway cannot tell them apart. See `plugin_api::abi` for the ABI.
//!
//! Loading a library runs its code with the gateway's rights: only load plugins you trust.
//! Libraries are never unloaded (a provider may be in use until the process ends).
//!
//! The gateway calls a plugin's operations through [`Isolation`] (see
//! `ProviderInstance::call`): on tokio's blocking threads, never on an async worker, each with
//! a time limit (`call_timeout_ms`, default [`DEFAULT_CALL_TIMEOUT`]) and at most
//! [`CALLS_PER_INSTANCE`] at once per instance. A call past its limit fails its operation; the
//! plugin's thread keeps its permit until the plugin returns, so a hung plugin can only use up
//! its own instance's permits. Built-in providers are pure and fast: they are called inline.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use plugin_api::abi::{
    ABI_1_MIN_TABLE_SIZE, ABI_VERSION, Buffer, CreateInput, ENTRY_SYMBOL, Envelope, InstanceInfo,
    Operation, PluginTable, ResponseToCall, ResponseToRequest, WebhookInput,
};
use plugin_api::{
    CallEvent, CallHandle, CallRequest, Capabilities, ConfigKey, ConfigProblem, ConfigValueKind,
    CreateCallOutcome, HangupOutcome, Headers, HttpResponse, Manifest, Outbound, ParsedWebhook,
    Provider, ProviderContext, ProviderError, ProviderFactory, Verification, WebhookError,
    WebhookRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;

/// How long a plugin call may take when `call_timeout_ms` is not set.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_millis(5_000);

/// The longest `call_timeout_ms` accepted.
const MAX_CALL_TIMEOUT_MS: u64 = 600_000;

/// How many calls into one plugin instance may run at once.
pub const CALLS_PER_INSTANCE: usize = 8;

/// A plugin call that did not finish in time (waiting for a free slot included).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the provider plugin did not answer within {} ms", .0.as_millis())]
pub struct CallTimedOut(pub Duration);

/// Where and how long a provider's operations may run: see the module documentation.
#[derive(Debug)]
pub struct Isolation {
    timeout: Duration,
    permits: Arc<Semaphore>,
}

impl Isolation {
    pub fn new(timeout: Duration, concurrency: usize) -> Self {
        Self {
            timeout,
            permits: Arc::new(Semaphore::new(concurrency)),
        }
    }

    /// The isolation of an instance of `kind` with this (validated) config: plugins only.
    pub fn for_instance(kind: &str, config: &Value) -> Option<Self> {
        (kind == "dylib").then(|| {
            let timeout = config
                .get("call_timeout_ms")
                .and_then(Value::as_u64)
                .map_or(DEFAULT_CALL_TIMEOUT, Duration::from_millis);
            Self::new(timeout, CALLS_PER_INSTANCE)
        })
    }

    /// Runs `operation` on a blocking thread, holding one of the instance's permits until it
    /// returns; gives up waiting after the time limit. A panic is the plugin adapter's own
    /// (plugins' panics are caught on their side of the ABI) and is raised again here.
    pub async fn run<T, F>(
        &self,
        provider: Arc<dyn Provider>,
        operation: F,
    ) -> Result<T, CallTimedOut>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Provider) -> T + Send + 'static,
    {
        let permits = Arc::clone(&self.permits);
        let call = async move {
            let permit = permits
                .acquire_owned()
                .await
                .map_err(|_| CallTimedOut(self.timeout))?;
            let task = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                operation(provider.as_ref())
            });
            match task.await {
                Ok(value) => Ok(value),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: the runtime is shutting down.
                Err(_) => Err(CallTimedOut(self.timeout)),
            }
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(CallTimedOut(self.timeout)))
    }
}

/// A loaded plugin library: its table, valid for the rest of the process.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    table: &'static PluginTable,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no plugin library at {0}")]
    Missing(PathBuf),
    #[error("cannot load {path}: {reason}")]
    Library { path: PathBuf, reason: String },
    #[error(
        "{0} exports no voice_gateway_plugin_v1 symbol: not a voice-gateway plugin, or built for another ABI"
    )]
    NoSymbol(PathBuf),
    #[error("{path} speaks plugin ABI {found}; this gateway speaks {ABI_VERSION}")]
    AbiVersion { path: PathBuf, found: u32 },
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
}

impl Plugin {
    /// Loads `path`, checks its ABI version and reads its manifest.
    pub fn load(path: &Path) -> Result<(Self, Manifest), LoadError> {
        if !path.is_file() {
            return Err(LoadError::Missing(path.to_path_buf()));
        }
        // SAFETY: loading a library runs its initializers; operators choose which plugins to
        // trust (documented). The library is leaked so its code outlives every use.
        let library =
            unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::Library {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        // SAFETY: the symbol's type is fixed by the ABI: no arguments, a pointer to the table.
        let entry =
            unsafe { library.get::<unsafe extern "C" fn() -> *const PluginTable>(ENTRY_SYMBOL) }
                .map_err(|_| LoadError::NoSymbol(path.to_path_buf()))?;
        // SAFETY: calling the plugin's entry point, which returns a pointer to a static table.
        let table = unsafe { entry() };
        if table.is_null() {
            return Err(LoadError::NoSymbol(path.to_path_buf()));
        }
        // SAFETY: every ABI version starts with the version field: read it before anything else.
        let found = unsafe { std::ptr::read(table.cast::<u32>()) };
        if found != ABI_VERSION {
            return Err(LoadError::AbiVersion {
                path: path.to_path_buf(),
                found,
            });
        }
        // SAFETY: same ABI version: the table has this layout (up to its `table_size`; fields
        // appended later are read only after checking it covers them) and lives as long as the
        // library.
        let table: &'static PluginTable = unsafe { &*table };
        if table.table_size < ABI_1_MIN_TABLE_SIZE {
            return Err(LoadError::Manifest {
                path: path.to_path_buf(),
                reason: "the plugin's function table is shorter than ABI 1 requires".into(),
            });
        }
        let plugin = Self { table };
        // SAFETY: a function of a checked table, with no arguments.
        let answer = unsafe { (table.manifest)() };
        let manifest = plugin
            .decode::<Manifest, Value>(answer)
            .and_then(|envelope| match envelope {
                Ok(manifest) => Ok(manifest),
                Err(e) => Err(format!("the plugin refused to give its manifest: {e}")),
            })
            .map_err(|reason| LoadError::Manifest {
                path: path.to_path_buf(),
                reason: format!("unreadable manifest: {reason}"),
            })?;
        Ok((plugin, manifest))
    }

    /// Copies an answer out, frees it on the plugin's side, and reads its envelope.
    fn decode<T: DeserializeOwned, E: DeserializeOwned>(
        &self,
        buffer: Buffer,
    ) -> Result<Result<T, E>, String> {
        // SAFETY: the buffer was just returned by this plugin and is freed right after.
        let bytes = unsafe { buffer.as_slice() }.to_vec();
        // SAFETY: handing the buffer back to the library that allocated it, once.
        unsafe { (self.table.free_buffer)(buffer) };
        match serde_json::from_slice::<Envelope<T, E>>(&bytes) {
            Ok(Envelope::Ok(value)) => Ok(Ok(value)),
            Ok(Envelope::Err(error)) => Ok(Err(error)),
            Ok(Envelope::Panic(message)) => Err(format!("the plugin panicked: {message}")),
            Err(e) => Err(format!("the plugin answered malformed JSON: {e}")),
        }
    }

    /// Builds an instance from the plugin's own config table.
    pub fn instantiate(
        &self,
        context: &ProviderContext,
        config: Value,
    ) -> Result<DylibProvider, Vec<ConfigProblem>> {
        let input = serde_json::to_vec(&CreateInput {
            context: context.clone(),
            config,
        })
        .map_err(|e| vec![ConfigProblem::new("config", e.to_string())])?;
        let mut instance: *mut c_void = std::ptr::null_mut();
        // SAFETY: a live input slice and a place for the instance pointer.
        let answer = unsafe { (self.table.create)(input.as_ptr(), input.len(), &mut instance) };
        match self.decode::<InstanceInfo, Vec<ConfigProblem>>(answer) {
            Ok(Ok(info)) if !instance.is_null() => Ok(DylibProvider {
                plugin: *self,
                instance: Instance(instance),
                info,
            }),
            Ok(Ok(_)) => Err(vec![ConfigProblem::new(
                "config",
                "the plugin created no instance",
            )]),
            Ok(Err(problems)) => Err(problems
                .into_iter()
                .map(|p| {
                    // The plugin's keys live under `[providers.<name>.config]`.
                    let key = if p.key.is_empty() {
                        "config".to_owned()
                    } else {
                        format!("config.{}", p.key)
                    };
                    ConfigProblem::new(&key, p.message)
                })
                .collect()),
            Err(failure) => Err(vec![ConfigProblem::new("config", failure)]),
        }
    }
}

/// The plugin's instance pointer. Providers are `Send + Sync` by the trait's contract, which the
/// export macro enforces on the plugin side.
#[derive(Debug)]
struct Instance(*mut c_void);

// SAFETY: the pointee is a `Box<dyn Provider>`, and `Provider: Send + Sync`.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

/// A provider instance living in a plugin library.
#[derive(Debug)]
pub struct DylibProvider {
    plugin: Plugin,
    instance: Instance,
    info: InstanceInfo,
}

impl Drop for DylibProvider {
    fn drop(&mut self) {
        // SAFETY: the instance came from this plugin's `create` and is destroyed once.
        unsafe { (self.plugin.table.destroy)(self.instance.0) };
    }
}

impl DylibProvider {
    /// Calls one operation. The outer `Err` is a plugin failure (panic, malformed answer).
    fn call<T: DeserializeOwned, E: DeserializeOwned>(
        &self,
        operation: Operation,
        input: &impl Serialize,
        body: &[u8],
    ) -> Result<Result<T, E>, String> {
        let input =
            serde_json::to_vec(input).map_err(|e| format!("cannot encode the input: {e}"))?;
        // SAFETY: live input and body slices, an instance from this plugin's `create`.
        let answer = unsafe {
            operation(
                self.instance.0,
                input.as_ptr(),
                input.len(),
                body.as_ptr(),
                body.len(),
            )
        };
        self.plugin.decode(answer)
    }

    fn outbound(
        &self,
        operation: Operation,
        call: &impl Serialize,
    ) -> Result<Outbound, ProviderError> {
        self.call::<Outbound, ProviderError>(operation, call, &[])
            .unwrap_or_else(|failure| Err(ProviderError::Plugin(failure)))
    }

    fn webhook_input(webhook: &WebhookRequest<'_>, now: Option<DateTime<Utc>>) -> WebhookInput {
        WebhookInput {
            topic: webhook.topic.map(str::to_owned),
            headers: webhook.headers.clone(),
            now,
        }
    }
}

impl Provider for DylibProvider {
    fn manifest(&self) -> Manifest {
        self.info.manifest.clone()
    }

    fn webhook_body_limit(&self) -> Option<usize> {
        self.info.webhook_body_limit
    }

    fn request_timeout(&self) -> Option<Duration> {
        self.info.request_timeout_ms.map(Duration::from_millis)
    }

    fn startup_warnings(&self) -> Vec<String> {
        self.info.startup_warnings.clone()
    }

    /// The plugin's keys live under `[providers.<name>.config]`.
    fn accepts_unsigned_webhooks(&self) -> Option<String> {
        self.info
            .accepts_unsigned_webhooks
            .as_ref()
            .map(|key| format!("config.{key}"))
    }

    fn build_create_call(&self, request: &CallRequest) -> Result<Outbound, ProviderError> {
        self.outbound(self.plugin.table.build_create_call, request)
    }

    fn parse_create_call_response(
        &self,
        request: &CallRequest,
        response: &HttpResponse,
    ) -> CreateCallOutcome {
        let input = ResponseToRequest {
            request: request.clone(),
            response: response.clone(),
        };
        match self.call::<CreateCallOutcome, Value>(
            self.plugin.table.parse_create_call_response,
            &input,
            &[],
        ) {
            Ok(Ok(outcome)) => outcome,
            // The vendor may have placed the call: never fail it on the plugin's word alone.
            Ok(Err(_)) | Err(_) => CreateCallOutcome::Indeterminate {
                message: "the provider plugin could not read the vendor's answer".into(),
            },
        }
    }

    /// Only plugins whose table has the function (older ones do not: `None`).
    fn precheck_webhook(&self, topic: Option<&str>, headers: &Headers) -> Option<Verification> {
        let offset = std::mem::offset_of!(PluginTable, precheck_webhook);
        if !self
            .plugin
            .table
            .has(offset, std::mem::size_of::<Operation>())
        {
            return None;
        }
        let input = WebhookInput {
            topic: topic.map(str::to_owned),
            headers: headers.clone(),
            now: None,
        };
        match self.call::<Option<Verification>, Value>(
            self.plugin.table.precheck_webhook,
            &input,
            &[],
        ) {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(e)) => Some(Verification::Error(format!(
                "the plugin failed to check the headers: {e}"
            ))),
            Err(failure) => Some(Verification::Error(failure)),
        }
    }

    fn verify_webhook(&self, webhook: &WebhookRequest<'_>, now: DateTime<Utc>) -> Verification {
        let input = Self::webhook_input(webhook, Some(now));
        match self.call::<Verification, Value>(
            self.plugin.table.verify_webhook,
            &input,
            webhook.body,
        ) {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(e)) => Verification::Error(format!("the plugin failed to verify: {e}")),
            Err(failure) => Verification::Error(failure),
        }
    }

    fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        let input = Self::webhook_input(webhook, None);
        self.call::<ParsedWebhook, WebhookError>(
            self.plugin.table.parse_webhook,
            &input,
            webhook.body,
        )
        .unwrap_or_else(|failure| Err(WebhookError::Plugin(failure)))
    }

    fn build_hangup(&self, call: &CallHandle) -> Result<Outbound, ProviderError> {
        self.outbound(self.plugin.table.build_hangup, call)
    }

    fn parse_hangup_response(&self, call: &CallHandle, response: &HttpResponse) -> HangupOutcome {
        let input = ResponseToCall {
            call: call.clone(),
            response: response.clone(),
        };
        match self.call::<HangupOutcome, Value>(
            self.plugin.table.parse_hangup_response,
            &input,
            &[],
        ) {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => HangupOutcome::Rejected {
                message: format!("the plugin failed: {e}"),
            },
            Err(failure) => HangupOutcome::Rejected { message: failure },
        }
    }

    fn build_fetch_call(&self, call: &CallHandle) -> Result<Outbound, ProviderError> {
        self.outbound(self.plugin.table.build_fetch_call, call)
    }

    fn parse_fetch_call_response(
        &self,
        call: &CallHandle,
        response: &HttpResponse,
    ) -> Result<Vec<CallEvent>, ProviderError> {
        let input = ResponseToCall {
            call: call.clone(),
            response: response.clone(),
        };
        self.call::<Vec<CallEvent>, ProviderError>(
            self.plugin.table.parse_fetch_call_response,
            &input,
            &[],
        )
        .unwrap_or_else(|failure| Err(ProviderError::Plugin(failure)))
    }
}

/// The `dylib` kind: `path` names the library (relative to the config file), and the
/// `[providers.<name>.config]` table goes to the plugin for its own validation.
#[derive(Debug, Default, Clone, Copy)]
pub struct DylibFactory;

impl ProviderFactory for DylibFactory {
    fn manifest(&self) -> Manifest {
        Manifest {
            kind: DYLIB_KIND.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A provider loaded from a shared library (voice-gateway plugin ABI 1)"
                .into(),
            capabilities: Capabilities::default(),
            signature_scheme: None,
            config_keys: vec![
                ConfigKey::new(
                    "path",
                    ConfigValueKind::String,
                    "The plugin library, relative to the config file",
                )
                .required(),
                ConfigKey::new(
                    "config",
                    ConfigValueKind::Table,
                    "The plugin's own config, validated by the plugin",
                ),
                ConfigKey::new(
                    "call_timeout_ms",
                    ConfigValueKind::Integer,
                    "Milliseconds one call into the plugin may take before its operation fails \
                     (default 5000)",
                ),
            ],
            credential_headers: Vec::new(),
        }
    }

    fn validate_config(
        &self,
        context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        if let Some(timeout) = config.get("call_timeout_ms") {
            if !timeout
                .as_u64()
                .is_some_and(|ms| (1..=MAX_CALL_TIMEOUT_MS).contains(&ms))
            {
                return Err(vec![ConfigProblem::new(
                    "call_timeout_ms",
                    format!("must be between 1 and {MAX_CALL_TIMEOUT_MS}, not {timeout}"),
                )]);
            }
        }
        let Some(path) = config.get("path").and_then(Value::as_str) else {
            return Err(vec![ConfigProblem::new(
                "path",
                "missing: the plugin library's path",
            )]);
        };
        let path = library_path(context.config_dir.as_deref(), path);
        let (plugin, _) =
            Plugin::load(&path).map_err(|e| vec![ConfigProblem::new("path", e.to_string())])?;
        let plugin_config = config
            .get("config")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let provider = plugin.instantiate(context, plugin_config)?;
        Ok(Box::new(provider))
    }
}

/// The kind of provider instances loaded from a plugin library.
pub const DYLIB_KIND: &str = "dylib";

/// A `dylib` instance's `path`, relative to the config file's directory.
fn library_path(config_dir: Option<&str>, path: &str) -> PathBuf {
    match config_dir {
        Some(dir) if Path::new(path).is_relative() => Path::new(dir).join(path),
        _ => PathBuf::from(path),
    }
}

/// The manifest of the plugin a `dylib` instance's `path` names (its own config keys, with
/// their environment variables and secrecy), so config handling treats its `config` table as
/// a built-in provider's. `None` if it does not load: `validate_config` then says why.
pub fn plugin_manifest(config_dir: Option<&str>, path: &str) -> Option<Manifest> {
    Plugin::load(&library_path(config_dir, path))
        .ok()
        .map(|(_, manifest)| manifest)
}

/// A loaded plugin as a factory, for `voice-gateway plugin check`.
#[derive(Debug, Clone)]
pub struct PluginFactory {
    plugin: Plugin,
    manifest: Manifest,
}

impl PluginFactory {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        Plugin::load(path).map(|(plugin, manifest)| Self { plugin, manifest })
    }
}

impl ProviderFactory for PluginFactory {
    fn manifest(&self) -> Manifest {
        self.manifest.clone()
    }

    fn validate_config(
        &self,
        context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        self.plugin
            .instantiate(context, config.clone())
            .map(|provider| Box::new(provider) as Box<dyn Provider>)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A provider whose operations the tests never reach: `run` is given the work as a closure.
    struct Idle;

    impl Provider for Idle {
        fn manifest(&self) -> Manifest {
            DylibFactory.manifest()
        }
        fn build_create_call(&self, _request: &CallRequest) -> Result<Outbound, ProviderError> {
            Err(ProviderError::Plugin("idle".into()))
        }
        fn parse_create_call_response(
            &self,
            _request: &CallRequest,
            _response: &HttpResponse,
        ) -> CreateCallOutcome {
            CreateCallOutcome::Indeterminate {
                message: "idle".into(),
            }
        }
        fn verify_webhook(
            &self,
            _webhook: &WebhookRequest<'_>,
            _now: DateTime<Utc>,
        ) -> Verification {
            Verification::Unsigned
        }
        fn parse_webhook(
            &self,
            _webhook: &WebhookRequest<'_>,
        ) -> Result<ParsedWebhook, WebhookError> {
            Err(WebhookError::Malformed("idle".into()))
        }
    }

    // The default test runtime has one thread: a call run on it would block the timer too.
    #[tokio::test]
    async fn a_hung_call_fails_at_its_limit_and_holds_only_its_own_permits() {
        let provider: Arc<dyn Provider> = Arc::new(Idle);
        let release = Arc::new(AtomicBool::new(false));
        let hang = |release: Arc<AtomicBool>| {
            move |_: &dyn Provider| {
                while !release.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        let hung = Isolation::new(Duration::from_millis(50), 1);
        let first = hung
            .run(Arc::clone(&provider), hang(Arc::clone(&release)))
            .await;
        assert!(matches!(first, Err(CallTimedOut(_))), "{first:?}");
        // Its one permit is still held by the hung call: the next one waits, and times out.
        let second = hung.run(Arc::clone(&provider), |_| 1).await;
        assert!(second.is_err(), "{second:?}");
        // Another instance is not affected.
        let other = Isolation::new(Duration::from_millis(50), 1);
        assert_eq!(other.run(Arc::clone(&provider), |_| 2).await.ok(), Some(2));
        // Once the plugin returns, its permit is free again.
        release.store(true, Ordering::Relaxed);
        let mut freed = None;
        for _ in 0..100 {
            if let Ok(value) = hung.run(Arc::clone(&provider), |_| 3).await {
                freed = Some(value);
                break;
            }
        }
        assert_eq!(freed, Some(3));
    }

    #[test]
    fn plugins_are_isolated_and_built_ins_are_not() {
        let config = serde_json::json!({"path": "p.so", "call_timeout_ms": 250});
        let isolation = Isolation::for_instance("dylib", &config).expect("a plugin is isolated");
        assert_eq!(isolation.timeout, Duration::from_millis(250));
        let default = Isolation::for_instance("dylib", &serde_json::json!({"path": "p.so"}));
        assert_eq!(default.map(|i| i.timeout), Some(DEFAULT_CALL_TIMEOUT));
        assert!(Isolation::for_instance("echo", &config).is_none());
    }
}
