//! Environment overrides, applied on top of the config file.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::Problem;
use super::sections::{
    AuthConfig, DatabaseConfig, GatewayConfig, LiveConfig, LogConfig, RetentionConfig, ServerConfig,
};
use crate::plugins::{DYLIB_KIND, plugin_manifest};
use crate::providers::Registry;

/// Prefix of the generic overrides: `VOICE_GATEWAY__SERVER__PORT=8080`.
pub const PREFIX: &str = "VOICE_GATEWAY__";

/// The seed's environment names and the keys they set.
const SEED_NAMES: [(&str, &str, &str); 7] = [
    ("HOST", "server", "host"),
    ("PORT", "server", "port"),
    ("LOG_LEVEL", "log", "level"),
    ("LOG_FORMAT", "log", "format"),
    ("ENVIRONMENT", "log", "environment"),
    ("DATABASE_URL", "database", "url"),
    ("JWT_SECRET", "auth", "jwt_secret"),
];

/// A snapshot of environment variables (the process's, or a test's).
#[derive(Debug, Clone, Default)]
pub struct EnvSource(BTreeMap<String, String>);

impl EnvSource {
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// Applies, in increasing precedence: providers' conventional variables (only where the
    /// file leaves the key empty), the seed's names, then `VOICE_GATEWAY__...`.
    pub(super) fn apply(
        &self,
        table: &mut Table,
        registry: &Registry,
        config_dir: Option<&str>,
        problems: &mut Vec<Problem>,
    ) {
        self.apply_provider_conventions(table, registry, config_dir);
        let defaults = default_sections();
        for (name, section, key) in SEED_NAMES {
            if let Some(raw) = self.0.get(name).filter(|v| !v.is_empty()) {
                let typed = typed(raw, lookup(&defaults, &[section, key]));
                set(table, &[section, key], typed);
            }
        }
        for (name, raw) in &self.0 {
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if path.len() < 2 || path.iter().any(String::is_empty) {
                problems.push(Problem::new(
                    format!("env {name}"),
                    "expected VOICE_GATEWAY__<SECTION>__<KEY>",
                ));
                continue;
            }
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let typed = typed(raw, lookup(&defaults, &path));
            set(table, &path, typed);
        }
    }

    /// e.g. `ECHO_WEBHOOK_SECRET` fills `webhook_secret` of every echo instance that leaves it
    /// empty. A plugin's (`kind = "dylib"`) keys are its own manifest's, in its `config` table:
    /// `ACME_API_KEY` fills `[providers.acme.config] api_key` the same way.
    fn apply_provider_conventions(
        &self,
        table: &mut Table,
        registry: &Registry,
        config_dir: Option<&str>,
    ) {
        let Some(Value::Table(providers)) = table.get_mut("providers") else {
            return;
        };
        for (name, instance) in providers.iter_mut() {
            let Value::Table(instance) = instance else {
                continue;
            };
            let kind = match instance.get("kind") {
                Some(Value::String(kind)) => kind.clone(),
                _ => name.clone(),
            };
            let Some(factory) = registry.factory(&kind) else {
                continue;
            };
            if kind == DYLIB_KIND {
                let Some(Value::String(path)) = instance.get("path") else {
                    continue;
                };
                let Some(manifest) = plugin_manifest(config_dir, &path.clone()) else {
                    continue; // validation says why it does not load
                };
                let nested = instance
                    .entry("config")
                    .or_insert_with(|| Value::Table(Table::new()));
                if let Value::Table(nested) = nested {
                    self.fill_empty_keys(nested, &manifest.config_keys);
                }
            } else {
                self.fill_empty_keys(instance, &factory.manifest().config_keys);
            }
        }
    }

    /// Sets each of `keys` that has an environment variable, and is missing or empty in
    /// `table`, to the variable's value when that is not empty.
    fn fill_empty_keys(&self, table: &mut Table, keys: &[plugin_api::ConfigKey]) {
        for key in keys {
            let Some(value) = key.env.as_ref().and_then(|v| self.0.get(v)) else {
                continue;
            };
            let empty = match table.get(&key.name) {
                None => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(_) => false,
            };
            if empty && !value.is_empty() {
                table.insert(key.name.clone(), Value::String(value.clone()));
            }
        }
    }
}

fn default_sections() -> Table {
    let mut table = Table::new();
    let sections = [
        ("server", Value::try_from(ServerConfig::default())),
        ("log", Value::try_from(LogConfig::default())),
        ("database", Value::try_from(DatabaseConfig::default())),
        ("gateway", Value::try_from(GatewayConfig::default())),
        ("auth", Value::try_from(AuthConfig::default())),
        ("live", Value::try_from(LiveConfig::default())),
    ];
    for (name, value) in sections {
        if let Ok(value) = value {
            table.insert(name.to_owned(), value);
        }
    }
    // `[retention]`'s ages are unset by default: an integer stands for each, to type them.
    let retention = RetentionConfig::default();
    let mut ages: Table = retention
        .ages()
        .iter()
        .map(|(key, _)| ((*key).to_owned(), Value::Integer(0)))
        .collect();
    ages.insert(
        "interval_secs".to_owned(),
        Value::Integer(retention.interval_secs as i64),
    );
    table.insert("retention".to_owned(), Value::Table(ages));
    table
}

fn lookup<'a>(table: &'a Table, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get(*first)?;
    match (rest.is_empty(), value) {
        (true, value) => Some(value),
        (false, Value::Table(inner)) => lookup(inner, rest),
        (false, _) => None,
    }
}

/// Environment values are strings; give them the type the default has, so `PORT=8080` is a
/// number and a list is comma-separated (`10.0.0.0/8,192.0.2.1`). Anything that does not
/// convert stays a string and fails validation with its path.
fn typed(raw: &str, default: Option<&Value>) -> Value {
    let raw_string = || Value::String(raw.to_owned());
    match default {
        Some(Value::Integer(_)) => raw
            .trim()
            .parse()
            .map(Value::Integer)
            .unwrap_or_else(|_| raw_string()),
        Some(Value::Float(_)) => raw
            .trim()
            .parse()
            .map(Value::Float)
            .unwrap_or_else(|_| raw_string()),
        Some(Value::Boolean(_)) => raw
            .trim()
            .parse()
            .map(Value::Boolean)
            .unwrap_or_else(|_| raw_string()),
        Some(Value::Array(_)) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        ),
        _ => raw_string(),
    }
}

fn set(table: &mut Table, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = table;
    for key in parents {
        let entry = current
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(inner) = entry else { return };
        current = inner;
    }
    current.insert((*last).to_owned(), value);
}
