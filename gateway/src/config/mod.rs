//! Configuration: one TOML file plus environment overrides, validated in two phases.
//!
//! Phase one merges the file, the seed's environment names (`HOST`, `PORT`, ...) and
//! `VOICE_GATEWAY__SECTION__KEY` overrides into one TOML table. Phase two checks every key and
//! builds the provider instances, collecting *every* problem with its key path, so the running
//! server only ever sees a [`Settings`] that is valid.

mod cidr;
mod env;
mod sections;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use plugin_api::{ConfigValueKind, Manifest, Provider, ProviderContext};
use serde::de::DeserializeOwned;
use toml::{Table, Value};

pub use cidr::Cidr;
pub use env::EnvSource;
pub use sections::{
    AuthConfig, Backend, ConfigEndpoint, DatabaseConfig, EventsConfig, GatewayConfig, LiveConfig,
    LogConfig, LogFormat, MIN_SECRET_BYTES, RetentionConfig, ServerConfig,
};

use crate::plugins::{CallTimedOut, Isolation};
use crate::providers::Registry;

/// The config file used when `--config` is not given; built-in defaults apply if it is absent.
pub const DEFAULT_CONFIG_PATH: &str = "config/voice-gateway.toml";

/// One thing wrong with the configuration, at a key path such as `server.port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problems):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {}: {}", problem.path, problem.message)?;
        }
        Ok(())
    }
}

impl ConfigError {
    fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            problems: vec![Problem::new(path, message)],
        }
    }
}

/// A configured provider instance.
#[derive(Clone)]
pub struct ProviderInstance {
    /// The `[providers.<name>]` name: used in API requests and webhook URLs.
    pub name: String,
    pub kind: String,
    /// The implementation's manifest, read once when the instance was built.
    pub manifest: Manifest,
    pub provider: Arc<dyn Provider>,
    /// Plugins' calls run off the async workers, with a time limit; built-ins' inline.
    isolation: Option<Arc<Isolation>>,
}

impl ProviderInstance {
    /// Calls the provider: the gateway's one way to run a provider operation (reading the
    /// manifest or the hints read once at start excepted). A plugin's call runs on a blocking
    /// thread and fails with [`CallTimedOut`] past its instance's `call_timeout_ms`.
    pub async fn call<T, F>(&self, operation: F) -> Result<T, CallTimedOut>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Provider) -> T + Send + 'static,
    {
        match &self.isolation {
            None => Ok(operation(self.provider.as_ref())),
            Some(isolation) => isolation.run(Arc::clone(&self.provider), operation).await,
        }
    }
}

impl fmt::Debug for ProviderInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderInstance")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerConfig,
    pub log: LogConfig,
    pub database: DatabaseConfig,
    pub gateway: GatewayConfig,
    pub auth: AuthConfig,
    pub live: LiveConfig,
    pub events: EventsConfig,
    pub retention: RetentionConfig,
    /// By name, in name order.
    pub providers: BTreeMap<String, ProviderInstance>,
    /// The file the settings came from, if any.
    pub source: Option<PathBuf>,
}

/// Where the config file comes from.
#[derive(Debug, Clone)]
pub enum ConfigFile {
    /// `--config PATH`: must exist.
    Explicit(PathBuf),
    /// The default path: built-in defaults apply if it does not exist.
    Default(PathBuf),
    /// No file at all (tests, embedding).
    None,
}

impl Settings {
    /// Loads and validates the configuration from a file and the process environment.
    pub fn load(file: &ConfigFile, registry: &Registry) -> Result<Self, ConfigError> {
        let (text, source) = read_file(file)?;
        Self::from_parts(&text, &EnvSource::from_process(), registry, source)
    }

    /// Validates configuration given as TOML text and an environment.
    pub fn from_parts(
        toml_text: &str,
        env: &EnvSource,
        registry: &Registry,
        source: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let mut table: Table = toml_text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::one("<file>", e.message().to_owned()))?;
        let mut problems = Vec::new();
        let config_dir = source
            .as_ref()
            .and_then(|path| path.parent())
            .map(|dir| dir.display().to_string());
        env.apply(&mut table, registry, config_dir.as_deref(), &mut problems);

        let server = section::<ServerConfig>(&table, "server", &mut problems);
        let log = section::<LogConfig>(&table, "log", &mut problems);
        let database = section::<DatabaseConfig>(&table, "database", &mut problems);
        let gateway = section::<GatewayConfig>(&table, "gateway", &mut problems);
        let auth = section::<AuthConfig>(&table, "auth", &mut problems);
        let live = section::<LiveConfig>(&table, "live", &mut problems);
        let events = section::<EventsConfig>(&table, "events", &mut problems);
        let retention = section::<RetentionConfig>(&table, "retention", &mut problems);
        for key in table.keys() {
            if ![
                "server",
                "log",
                "database",
                "gateway",
                "auth",
                "live",
                "events",
                "retention",
                "providers",
            ]
            .contains(&key.as_str())
            {
                problems.push(Problem::new(key.as_str(), "unknown section"));
            }
        }
        let environment = log.as_ref().map(|l| l.environment).unwrap_or_default();
        let (providers, declared) =
            build_providers(&table, registry, environment, config_dir, &mut problems);

        // Check every section that parsed, so one broken section does not hide the others' problems.
        if let Some(server) = &server {
            server.check(&mut problems);
        }
        if let Some(log) = &log {
            log.check(&mut problems);
        }
        if let Some(database) = &database {
            database.check(&mut problems);
        }
        if let Some(gateway) = &gateway {
            gateway.check(&mut problems);
            if !declared.contains(&gateway.default_provider) {
                problems.push(Problem::new(
                    "gateway.default_provider",
                    format!(
                        "'{}' is not a configured provider (configured: {})",
                        gateway.default_provider,
                        declared.join(", ")
                    ),
                ));
            }
        }
        if let Some(auth) = &auth {
            auth.check(environment, &mut problems);
        }
        if let Some(live) = &live {
            live.check(&mut problems);
        }
        if let Some(events) = &events {
            events.check(environment, &mut problems);
        }
        if let Some(retention) = &retention {
            retention.check(&mut problems);
        }
        let (
            Some(server),
            Some(log),
            Some(database),
            Some(gateway),
            Some(auth),
            Some(live),
            Some(events),
            Some(retention),
        ) = (
            server, log, database, gateway, auth, live, events, retention,
        )
        else {
            return Err(ConfigError { problems });
        };
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(Settings {
            server,
            log,
            database,
            gateway,
            auth,
            live,
            events,
            retention,
            providers,
            source,
        })
    }

    /// How long an `Idempotency-Key` is remembered: `retention.idempotency_hours` when set,
    /// else `gateway.idempotency_ttl_secs` (24 hours by default).
    pub fn idempotency_ttl(&self) -> std::time::Duration {
        match self.retention.idempotency_hours {
            Some(hours) => std::time::Duration::from_secs(hours.unsigned_abs() * 3600),
            None => std::time::Duration::from_secs(self.gateway.idempotency_ttl_secs),
        }
    }

    /// The provider used when a request names none.
    pub fn default_provider(&self) -> &str {
        &self.gateway.default_provider
    }
}

fn read_file(file: &ConfigFile) -> Result<(String, Option<PathBuf>), ConfigError> {
    let path = match file {
        ConfigFile::None => return Ok((String::new(), None)),
        ConfigFile::Explicit(path) | ConfigFile::Default(path) => path,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((text, Some(path.clone()))),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && matches!(file, ConfigFile::Default(_)) =>
        {
            Ok((String::new(), None))
        }
        Err(e) => Err(ConfigError::one(
            "<file>",
            format!("cannot read config file {}: {e}", path.display()),
        )),
    }
}

/// Deserializes one section, reporting unknown keys and the first type error with full paths.
fn section<T: DeserializeOwned + Default>(
    table: &Table,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let Some(value) = table.get(name) else {
        return Some(T::default());
    };
    let mut unknown = Vec::new();
    let deserializer = value.clone();
    let tracked = serde_path_to_error::deserialize::<_, T>(serde_ignored::Deserializer::new(
        deserializer,
        &mut |path| unknown.push(path.to_string()),
    ));
    for key in unknown {
        problems.push(Problem::new(format!("{name}.{key}"), "unknown key"));
    }
    match tracked {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." {
                name.to_owned()
            } else {
                format!("{name}.{path}")
            };
            problems.push(Problem::new(path, e.into_inner().message().to_owned()));
            None
        }
    }
}

/// Provider names appear in URLs and env variable names: keep them simple.
fn valid_provider_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn build_providers(
    table: &Table,
    registry: &Registry,
    environment: plugin_api::Environment,
    config_dir: Option<String>,
    problems: &mut Vec<Problem>,
) -> (BTreeMap<String, ProviderInstance>, Vec<String>) {
    let mut instances = BTreeMap::new();
    let mut configured = match table.get("providers") {
        None => Table::new(),
        Some(Value::Table(t)) => t.clone(),
        Some(_) => {
            problems.push(Problem::new(
                "providers",
                "must be a table of provider tables",
            ));
            return (instances, Vec::new());
        }
    };
    if configured.is_empty() {
        configured = default_providers();
    }
    let declared = configured.keys().cloned().collect();
    for (name, value) in configured {
        let path = format!("providers.{name}");
        if !valid_provider_name(&name) {
            problems.push(Problem::new(
                &path,
                "provider names use lowercase letters, digits, '_' and '-' only",
            ));
            continue;
        }
        let Value::Table(mut config) = value else {
            problems.push(Problem::new(&path, "must be a table"));
            continue;
        };
        let kind = match config.remove("kind") {
            Some(Value::String(kind)) => kind,
            Some(_) => {
                problems.push(Problem::new(format!("{path}.kind"), "must be a string"));
                continue;
            }
            // `[providers.echo]` without a kind means the kind of the same name.
            None if registry.factory(&name).is_some() => name.clone(),
            None => {
                problems.push(Problem::new(
                    format!("{path}.kind"),
                    "missing: every provider needs a kind",
                ));
                continue;
            }
        };
        let Some(factory) = registry.factory(&kind) else {
            problems.push(Problem::new(
                format!("{path}.kind"),
                format!(
                    "unknown provider kind '{kind}' (known: {})",
                    registry.kinds().join(", ")
                ),
            ));
            continue;
        };
        let manifest = factory.manifest();
        let before = problems.len();
        let mut json = serde_json::Map::new();
        for (key, value) in config {
            let Some(spec) = manifest.config_keys.iter().find(|k| k.name == key) else {
                problems.push(Problem::new(format!("{path}.{key}"), "unknown key"));
                continue;
            };
            match coerce(value, spec.kind) {
                Ok(value) => {
                    json.insert(key, value);
                }
                Err(message) => problems.push(Problem::new(format!("{path}.{key}"), message)),
            }
        }
        for spec in manifest.config_keys.iter().filter(|k| k.required) {
            let missing = match json.get(&spec.name) {
                None => true,
                Some(serde_json::Value::String(s)) => s.trim().is_empty(),
                Some(_) => false,
            };
            if missing {
                let hint = spec
                    .env
                    .as_deref()
                    .map(|v| format!(" (or set {v})"))
                    .unwrap_or_default();
                problems.push(Problem::new(
                    format!("{path}.{}", spec.name),
                    format!("missing: required by kind '{kind}'{hint}"),
                ));
            }
        }
        if problems.len() > before {
            continue;
        }
        let context = ProviderContext {
            name: name.clone(),
            environment,
            config_dir: config_dir.clone(),
        };
        let config = serde_json::Value::Object(json);
        match factory.validate_config(&context, &config) {
            Ok(provider) => {
                // Every provider, plugins included: ingest refuses unsigned webhooks in
                // production anyway, so an instance that would take them is a config error.
                let unsigned = provider
                    .accepts_unsigned_webhooks()
                    .filter(|_| environment == plugin_api::Environment::Production);
                if let Some(key) = unsigned {
                    problems.push(Problem::new(
                        format!("{path}.{key}"),
                        "this instance would accept unsigned webhooks, which production refuses: \
                         configure its webhook secret",
                    ));
                    continue;
                }
                // The implementation's own kind: a plugin (`kind = "dylib"`) names its vendor.
                let manifest = provider.manifest();
                instances.insert(
                    name.clone(),
                    ProviderInstance {
                        name,
                        kind: manifest.kind.clone(),
                        manifest,
                        provider: Arc::from(provider),
                        isolation: Isolation::for_instance(&kind, &config).map(Arc::new),
                    },
                );
            }
            Err(found) => {
                let secrets = secret_values(&kind, &manifest, &config, config_dir.as_deref());
                problems.extend(found.into_iter().map(|p| {
                    let key = if p.key.is_empty() {
                        path.clone()
                    } else {
                        format!("{path}.{}", p.key)
                    };
                    Problem::new(key, redact(p.message, &secrets))
                }))
            }
        }
    }
    (instances, declared)
}

/// The values of an instance's secret config keys, as its manifest marks them: a plugin's
/// (`kind = "dylib"`) are those of its own manifest, in its `config` table.
fn secret_values(
    kind: &str,
    manifest: &plugin_api::Manifest,
    config: &serde_json::Value,
    config_dir: Option<&str>,
) -> Vec<String> {
    let nested;
    let (keys, values) = if kind == crate::plugins::DYLIB_KIND {
        let plugin = config
            .get("path")
            .and_then(serde_json::Value::as_str)
            .and_then(|path| crate::plugins::plugin_manifest(config_dir, path));
        let Some(plugin) = plugin else {
            return Vec::new();
        };
        nested = plugin.config_keys;
        (&nested, config.get("config"))
    } else {
        (&manifest.config_keys, Some(config))
    };
    let Some(values) = values else {
        return Vec::new();
    };
    keys.iter()
        .filter(|key| key.secret)
        .filter_map(|key| values.get(&key.name).and_then(serde_json::Value::as_str))
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `message` with every occurrence of a secret value replaced (a provider's own problem
/// messages may quote what they were given; config problems are printed and logged).
fn redact(mut message: String, secrets: &[String]) -> String {
    for secret in secrets {
        message = message.replace(secret.as_str(), "[redacted]");
    }
    message
}

/// With no providers configured, one `echo` instance named `echo` exists, so the gateway starts
/// with no keys at all.
fn default_providers() -> Table {
    let mut echo = Table::new();
    echo.insert("kind".to_owned(), Value::String("echo".to_owned()));
    let mut providers = Table::new();
    providers.insert("echo".to_owned(), Value::Table(echo));
    providers
}

/// Turns a TOML value into the JSON a provider expects, converting strings that came from
/// environment variables into the key's declared type.
fn coerce(value: Value, kind: ConfigValueKind) -> Result<serde_json::Value, String> {
    use serde_json::Value as Json;
    let mismatch =
        |expected: &str, got: &Value| format!("expected {expected}, found {}", got.type_str());
    match (kind, value) {
        (ConfigValueKind::String, Value::String(s)) => Ok(Json::String(s)),
        (ConfigValueKind::Integer, Value::Integer(i)) => Ok(Json::from(i)),
        (ConfigValueKind::Integer, Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Json::from)
            .map_err(|_| format!("expected an integer, found '{s}'")),
        (ConfigValueKind::Float, Value::Float(f)) => Ok(Json::from(f)),
        (ConfigValueKind::Float, Value::Integer(i)) => Ok(Json::from(i as f64)),
        (ConfigValueKind::Float, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map(Json::from)
            .map_err(|_| format!("expected a number, found '{s}'")),
        (ConfigValueKind::Boolean, Value::Boolean(b)) => Ok(Json::Bool(b)),
        (ConfigValueKind::Boolean, Value::String(s)) => match s.trim() {
            "true" | "1" => Ok(Json::Bool(true)),
            "false" | "0" => Ok(Json::Bool(false)),
            _ => Err(format!("expected true or false, found '{s}'")),
        },
        (ConfigValueKind::Table, value @ Value::Table(_)) => {
            serde_json::to_value(value).map_err(|e| e.to_string())
        }
        (ConfigValueKind::String, other) => Err(mismatch("a string", &other)),
        (ConfigValueKind::Integer, other) => Err(mismatch("an integer", &other)),
        (ConfigValueKind::Float, other) => Err(mismatch("a number", &other)),
        (ConfigValueKind::Boolean, other) => Err(mismatch("a boolean", &other)),
        (ConfigValueKind::Table, other) => Err(mismatch("a table", &other)),
    }
}

#[cfg(test)]
mod tests;
