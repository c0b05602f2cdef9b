//! Provider config, described once: a [`Schema`] lists a provider's config keys with their
//! checks, and both the manifest's [`ConfigKey`]s ([`Schema::config_keys`]) and the validation
//! of an instance's config table ([`Schema::read`]) come from it. A provider cannot list one key
//! in its manifest and read another: reading a key the schema does not list, reading a key as
//! the wrong type, or leaving a listed key unread fails a debug assertion (so every provider's
//! tests catch it), and in a release build the config is refused.
//!
//! ```
//! use plugin_api::ConfigProblem;
//! use plugin_api::config::{Key, Schema, Secret, UrlRule};
//!
//! const API_KEY: Key = Key::string("api_key", "Sent as a Bearer token").required().secret();
//! const BASE_URL: Key = Key::url("base_url", "API root URL", UrlRule::BASE)
//!     .default("https://api.acme.example");
//! const TIMEOUT_MS: Key = Key::positive("request_timeout_ms", "Milliseconds to wait", 5_000);
//! static SCHEMA: Schema = Schema::new("acme", &[API_KEY, BASE_URL, TIMEOUT_MS]);
//!
//! #[derive(Debug)] // `Secret` prints as `[redacted]`
//! struct Config {
//!     api_key: Secret,
//!     base_url: String,
//!     timeout_ms: u64,
//! }
//!
//! fn validate(config: &serde_json::Value) -> Result<Config, Vec<ConfigProblem>> {
//!     let mut read = SCHEMA.read(config)?;
//!     let config = Config {
//!         api_key: read.secret(&API_KEY),
//!         base_url: read.string(&BASE_URL),
//!         timeout_ms: read.integer(&TIMEOUT_MS),
//!     };
//!     read.finish(config)
//! }
//!
//! let config = validate(&serde_json::json!({"api_key": "k", "base_url": "https://eu.acme.example/"}));
//! assert_eq!(config.unwrap().base_url, "https://eu.acme.example");
//! let problems = validate(&serde_json::json!({"request_timeout_ms": 0, "colour": "blue"}));
//! let problems: Vec<_> = problems.unwrap_err().into_iter().map(|p| (p.key, p.message)).collect();
//! assert_eq!(problems, [
//!     ("colour".to_owned(), "unknown key".to_owned()),
//!     ("api_key".to_owned(), "missing: required by kind 'acme'".to_owned()),
//!     ("request_timeout_ms".to_owned(), "must be a positive number, not 0".to_owned()),
//! ]);
//! ```

use std::fmt;

use serde_json::{Map, Value};

use crate::provider::{ConfigKey, ConfigProblem, ConfigValueKind};

/// Every config key of one provider kind, and how its string values read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schema {
    kind: &'static str,
    keys: &'static [Key],
    strings: Strings,
}

/// How a schema reads string values: what counts as not set, and whether values are trimmed.
/// New providers keep the default, [`Strings::BlankIsUnset`]; the others keep what existing
/// providers have always done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strings {
    /// `null` and blank strings (empty or whitespace only) are not set; other strings are read
    /// as given; any other type is refused with "expected a string".
    BlankIsUnset,
    /// Like `BlankIsUnset`, and values are read trimmed.
    Trimmed,
    /// `null` and the empty string are not set; whitespace is a value.
    EmptyIsUnset,
    /// A key given at all must hold a non-empty string: `null`, `""` and other types are
    /// refused with "must be a non-empty string".
    NonEmpty,
}

/// One config key: its name, type and check, and how the manifest shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    name: &'static str,
    description: &'static str,
    check: Check,
    /// The value of an unset string key (checked like a given one).
    default: Option<&'static str>,
    required: bool,
    secret: bool,
    env: Option<&'static str>,
    /// Replaces "missing: required by kind '<kind>'".
    missing: Option<&'static str>,
}

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Any string.
    Text,
    /// An `http(s)://host[:port][/path]` URL.
    Url(UrlRule),
    /// An HTTP header name (a token), read lower-cased.
    HeaderName,
    /// One of these strings; unset reads as the first.
    OneOf(&'static [&'static str]),
    /// A whole number; unset reads as `default`.
    Integer { default: u64, bound: Bound },
    /// `true` or `false`; unset reads as `default`.
    Boolean { default: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// Greater than zero.
    Positive,
    /// Within `min..=max`.
    Between(u64, u64),
}

/// What a URL key accepts and how its problems are worded. Every rule refuses whitespace,
/// schemes other than `http` and `https`, a missing or malformed host or port, credentials and
/// a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlRule {
    query: bool,
    schemes: &'static str,
    credentials: Option<&'static str>,
    message: Option<&'static str>,
}

impl UrlRule {
    /// A base URL that paths are appended to: no query either; read without its trailing slash.
    pub const BASE: Self = Self {
        query: false,
        schemes: "https:// or http://",
        credentials: None,
        message: None,
    };
    /// A URL used exactly as given (e.g. a callback URL sent to the vendor): a query is allowed.
    pub const EXACT: Self = Self {
        query: true,
        ..Self::BASE
    };

    /// The schemes a URL without one is told to start with (default `https:// or http://`).
    pub const fn schemes_hint(mut self, hint: &'static str) -> Self {
        self.schemes = hint;
        self
    }

    /// Where credentials go instead, told to a URL that carries some (e.g. `use api_key`).
    pub const fn credentials_hint(mut self, hint: &'static str) -> Self {
        self.credentials = Some(hint);
        self
    }

    /// One message for every problem, instead of one naming the problem.
    pub const fn message(mut self, message: &'static str) -> Self {
        self.message = Some(message);
        self
    }
}

impl Key {
    const fn new(name: &'static str, description: &'static str, check: Check) -> Self {
        Self {
            name,
            description,
            check,
            default: None,
            required: false,
            secret: false,
            env: None,
            missing: None,
        }
    }

    /// A string.
    pub const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, description, Check::Text)
    }

    /// An `http(s)` URL, checked by `rule`.
    pub const fn url(name: &'static str, description: &'static str, rule: UrlRule) -> Self {
        Self::new(name, description, Check::Url(rule))
    }

    /// An HTTP header name, read lower-cased.
    pub const fn header_name(name: &'static str, description: &'static str) -> Self {
        Self::new(name, description, Check::HeaderName)
    }

    /// One of `options`; the first is the default.
    pub const fn one_of(
        name: &'static str,
        description: &'static str,
        options: &'static [&'static str],
    ) -> Self {
        assert!(!options.is_empty(), "a one_of key needs an option");
        Self::new(name, description, Check::OneOf(options))
    }

    /// A whole number greater than zero, `default` when not set.
    pub const fn positive(name: &'static str, description: &'static str, default: u64) -> Self {
        let bound = Bound::Positive;
        Self::new(name, description, Check::Integer { default, bound })
    }

    /// A whole number within `min..=max`, `default` when not set.
    pub const fn integer_between(
        name: &'static str,
        description: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Self {
        let bound = Bound::Between(min, max);
        Self::new(name, description, Check::Integer { default, bound })
    }

    /// `true` or `false`, `default` when not set.
    pub const fn boolean(name: &'static str, description: &'static str, default: bool) -> Self {
        Self::new(name, description, Check::Boolean { default })
    }

    /// The value of a string, URL or header-name key when it is not set.
    pub const fn default(mut self, value: &'static str) -> Self {
        assert!(
            matches!(self.check, Check::Text | Check::Url(_) | Check::HeaderName),
            "only string, URL and header-name keys take a default this way"
        );
        self.default = Some(value);
        self
    }

    /// The config is refused without this key.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Never logged or returned by the API; read with [`Reader::secret`].
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// A conventional environment variable that sets this key (e.g. `ACME_API_KEY`).
    pub const fn env(mut self, variable: &'static str) -> Self {
        self.env = Some(variable);
        self
    }

    /// The problem of a required key that is not set, instead of
    /// "missing: required by kind '<kind>'".
    pub const fn missing_message(mut self, message: &'static str) -> Self {
        self.missing = Some(message);
        self
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The type the manifest declares (and the gateway converts environment values to).
    pub const fn kind(&self) -> ConfigValueKind {
        match self.check {
            Check::Text | Check::Url(_) | Check::HeaderName | Check::OneOf(_) => {
                ConfigValueKind::String
            }
            Check::Integer { .. } => ConfigValueKind::Integer,
            Check::Boolean { .. } => ConfigValueKind::Boolean,
        }
    }

    /// This key as the manifest lists it.
    pub fn config_key(&self) -> ConfigKey {
        ConfigKey {
            name: self.name.to_owned(),
            kind: self.kind(),
            required: self.required,
            secret: self.secret,
            env: self.env.map(str::to_owned),
            description: self.description.to_owned(),
        }
    }

    /// Whether the value is read as a string (string, URL and header-name keys).
    const fn is_text(&self) -> bool {
        matches!(self.check, Check::Text | Check::Url(_) | Check::HeaderName)
    }

    /// Whether an unset value still reads as something.
    const fn always_set(&self) -> bool {
        self.required || self.default.is_some()
    }
}

impl Schema {
    /// The schema of `kind` (named in "missing: required by kind '<kind>'"), its keys in the
    /// order the manifest lists them.
    pub const fn new(kind: &'static str, keys: &'static [Key]) -> Self {
        Self {
            kind,
            keys,
            strings: Strings::BlankIsUnset,
        }
    }

    /// Reads string values by `strings` instead of [`Strings::BlankIsUnset`].
    pub const fn strings(mut self, strings: Strings) -> Self {
        self.strings = strings;
        self
    }

    pub const fn kind(&self) -> &'static str {
        self.kind
    }

    pub const fn keys(&self) -> &'static [Key] {
        self.keys
    }

    /// The manifest's `config_keys`.
    pub fn config_keys(&self) -> Vec<ConfigKey> {
        self.keys.iter().map(Key::config_key).collect()
    }

    /// Starts reading an instance's config, which must be a table ("expected a table"
    /// otherwise). Every key the schema does not list is a problem ("unknown key") already.
    pub fn read<'a>(&'a self, config: &'a Value) -> Result<Reader<'a>, Vec<ConfigProblem>> {
        match config.as_object() {
            Some(table) => Ok(self.read_table(table)),
            None => Err(vec![ConfigProblem::new("", "expected a table")]),
        }
    }

    /// Starts reading a config table; see [`Schema::read`].
    pub fn read_table<'a>(&'a self, table: &'a Map<String, Value>) -> Reader<'a> {
        let problems = table
            .keys()
            .filter(|name| !self.keys.iter().any(|key| key.name == name.as_str()))
            .map(|name| ConfigProblem::new(name, "unknown key"))
            .collect();
        Reader {
            schema: self,
            table,
            read: Vec::new(),
            problems,
        }
    }
}

/// Reads one config table key by key, collecting every problem instead of stopping at the
/// first. Each getter returns the value (its default when not set); after a problem it
/// returns a placeholder, which [`Reader::finish`] never lets out.
pub struct Reader<'a> {
    schema: &'a Schema,
    table: &'a Map<String, Value>,
    read: Vec<&'static str>,
    problems: Vec<ConfigProblem>,
}

impl fmt::Debug for Reader<'_> {
    /// Leaves out the table: it holds secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("kind", &self.schema.kind)
            .field("read", &self.read)
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl<'a> Reader<'a> {
    /// A string, URL or header-name key that is required or has a default.
    pub fn string(&mut self, key: &Key) -> String {
        let fits = key.is_text() && !key.secret && key.always_set();
        self.text(key, "string", fits).unwrap_or_default()
    }

    /// A string, URL or header-name key: `None` when not set.
    pub fn optional_string(&mut self, key: &Key) -> Option<String> {
        let fits = key.is_text() && !key.secret;
        self.text(key, "optional_string", fits)
    }

    /// A secret string key that is required or has a default.
    pub fn secret(&mut self, key: &Key) -> Secret {
        let fits = key.is_text() && key.secret && key.always_set();
        Secret(self.text(key, "secret", fits).unwrap_or_default())
    }

    /// A secret string key: `None` when not set.
    pub fn optional_secret(&mut self, key: &Key) -> Option<Secret> {
        let fits = key.is_text() && key.secret;
        self.text(key, "optional_secret", fits).map(Secret)
    }

    /// A `one_of` key: the option given, or the first when not set.
    pub fn choice(&mut self, key: &Key) -> &'static str {
        let options = match key.check {
            Check::OneOf(options) => options,
            _ => &[],
        };
        let first = options.first().copied().unwrap_or_default();
        if !self.take(key, "choice", matches!(key.check, Check::OneOf(_))) {
            return first;
        }
        let Some(raw) = self.string_value(key) else {
            return first;
        };
        if let Some(option) = options.iter().find(|option| **option == raw) {
            return option;
        }
        let quoted: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
        let listed = match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => quoted.concat(),
        };
        self.problem(key, format!("must be {listed}, not '{raw}'"));
        first
    }

    /// An integer key: its value, or its default when not set.
    pub fn integer(&mut self, key: &Key) -> u64 {
        let (default, bound) = match key.check {
            Check::Integer { default, bound } => (default, bound),
            _ => (0, Bound::Positive),
        };
        if !self.take(key, "integer", matches!(key.check, Check::Integer { .. })) {
            return default;
        }
        let table = self.table;
        let value = match table.get(key.name) {
            None | Some(Value::Null) => return default,
            Some(value) => match value.as_i64() {
                Some(value) => value,
                None => {
                    self.problem(key, "expected an integer");
                    return default;
                }
            },
        };
        let fits = u64::try_from(value).ok().filter(|n| match bound {
            Bound::Positive => *n > 0,
            Bound::Between(min, max) => (min..=max).contains(n),
        });
        match (fits, bound) {
            (Some(n), _) => n,
            (None, Bound::Positive) => {
                self.problem(key, format!("must be a positive number, not {value}"));
                default
            }
            (None, Bound::Between(min, max)) => {
                self.problem(key, format!("must be between {min} and {max}"));
                default
            }
        }
    }

    /// A boolean key: its value, or its default when not set (or not a boolean).
    pub fn boolean(&mut self, key: &Key) -> bool {
        let default = match key.check {
            Check::Boolean { default } => default,
            _ => false,
        };
        if !self.take(key, "boolean", matches!(key.check, Check::Boolean { .. })) {
            return default;
        }
        let table = self.table;
        match table.get(key.name) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(value)) => *value,
            Some(_) => {
                self.problem(key, "expected true or false");
                default
            }
        }
    }

    /// Records a problem the key's own check cannot see (e.g. one that involves other keys).
    pub fn problem(&mut self, key: &Key, message: impl Into<String>) {
        debug_assert!(
            self.schema.keys.contains(key),
            "kind '{}' reports a problem at '{}', which its schema does not list",
            self.schema.kind,
            key.name
        );
        self.problems.push(ConfigProblem::new(key.name, message));
    }

    /// Whether a problem was recorded at `key` (so its value is a placeholder).
    pub fn has_problem(&self, key: &Key) -> bool {
        self.problems.iter().any(|p| p.key == key.name)
    }

    /// `value`, built from what was read, if no problem was found; every problem otherwise.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<ConfigProblem>> {
        for key in self.schema.keys {
            debug_assert!(
                self.read.contains(&key.name),
                "kind '{}' lists the config key '{}' but never reads it",
                self.schema.kind,
                key.name
            );
        }
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(self.problems)
        }
    }

    /// Marks `key` read; false (with a problem) if the schema does not list it, the getter does
    /// not fit it (`fits`) or it was read before.
    fn take(&mut self, key: &Key, getter: &str, fits: bool) -> bool {
        let listed = self.schema.keys.contains(key);
        let first = !self.read.contains(&key.name);
        debug_assert!(
            listed && fits && first,
            "kind '{}' reads the config key '{}' with {getter}, which its schema does not allow \
             (listed: {listed}, fits: {fits}, first read: {first})",
            self.schema.kind,
            key.name
        );
        self.read.push(key.name);
        if listed && fits && first {
            return true;
        }
        self.problems.push(ConfigProblem::new(
            key.name,
            format!("read with {getter}, which the provider's schema does not allow"),
        ));
        false
    }

    /// A string-valued key after the schema's string rules and the key's check: `None` when
    /// it is not set and has no default, or when it has a problem.
    fn text(&mut self, key: &Key, getter: &str, fits: bool) -> Option<String> {
        if !self.take(key, getter, fits) {
            return None;
        }
        let raw = self.string_value(key)?;
        let checked = match key.check {
            Check::Url(rule) => check_url(&raw, &rule),
            Check::HeaderName => check_header_name(&raw),
            _ => Ok(raw),
        };
        checked.map_err(|message| self.problem(key, message)).ok()
    }

    /// The string a key holds by the schema's [`Strings`] rule, its default when not set, or
    /// `None` (a required key's problem recorded).
    fn string_value(&mut self, key: &Key) -> Option<String> {
        let table = self.table;
        let given = match read_string(self.schema.strings, table.get(key.name)) {
            Ok(given) => given,
            Err(message) => {
                self.problem(key, message);
                return None;
            }
        };
        let value = given.or(key.default).map(str::to_owned);
        if value.is_none() && key.required && !self.has_problem(key) {
            let message = match key.missing {
                Some(message) => message.to_owned(),
                None => format!("missing: required by kind '{}'", self.schema.kind),
            };
            self.problem(key, message);
        }
        value
    }
}

/// A value by a [`Strings`] rule: `Ok(None)` when it counts as not set.
fn read_string(strings: Strings, value: Option<&Value>) -> Result<Option<&str>, &'static str> {
    use Strings::{BlankIsUnset, EmptyIsUnset, NonEmpty, Trimmed};
    match (strings, value) {
        (NonEmpty, None) => Ok(None),
        (NonEmpty, Some(Value::String(s))) if !s.is_empty() => Ok(Some(s)),
        (NonEmpty, Some(_)) => Err("must be a non-empty string"),
        (_, None | Some(Value::Null)) => Ok(None),
        (BlankIsUnset | Trimmed, Some(Value::String(s))) if s.trim().is_empty() => Ok(None),
        (EmptyIsUnset, Some(Value::String(s))) if s.is_empty() => Ok(None),
        (Trimmed, Some(Value::String(s))) => Ok(Some(s.trim())),
        (_, Some(Value::String(s))) => Ok(Some(s)),
        (_, Some(_)) => Err("expected a string"),
    }
}

/// Checks an `http(s)://host[:port][/path]` URL by `rule` and returns it as it is read.
fn check_url(raw: &str, rule: &UrlRule) -> Result<String, String> {
    url_problem(raw, rule).map_err(|message| rule.message.map_or(message, str::to_owned))?;
    Ok(if rule.query {
        raw.to_owned()
    } else {
        raw.trim_end_matches('/').to_owned()
    })
}

fn url_problem(raw: &str, rule: &UrlRule) -> Result<(), String> {
    if raw.chars().any(char::is_whitespace) {
        return Err(format!("'{raw}' is not a URL: it contains whitespace"));
    }
    let Some(rest) = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
    else {
        return Err(format!(
            "'{raw}' is not a URL: it must start with {}",
            rule.schemes
        ));
    };
    if rest.contains('#') || (!rule.query && rest.contains('?')) {
        return Err(format!(
            "'{raw}' must not have {}",
            if rule.query {
                "a fragment"
            } else {
                "a query or fragment: paths are appended to it"
            }
        ));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("'{raw}' is not a URL: it has no host"));
    }
    if authority.contains('@') {
        return Err(match rule.credentials {
            Some(hint) => format!("must not contain credentials: {hint}"),
            None => "must not contain credentials".to_owned(),
        });
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !authority.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let bracketed = host.len() > 2 && host.starts_with('[') && host.ends_with(']');
    let host_ok = bracketed
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(format!("'{raw}' is not a URL: bad host or port"));
    }
    Ok(())
}

/// Checks an HTTP header name (an RFC 9110 token) and returns it lower-cased.
fn check_header_name(name: &str) -> Result<String, String> {
    let token = name.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
    });
    if token {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(format!("'{name}' is not a valid HTTP header name"))
    }
}

/// A config value that must stay out of logs: its `Debug` prints `[redacted]`, so config
/// structs holding secrets can derive `Debug`.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOKEN: Key = Key::string("token", "The vendor's key")
        .required()
        .secret()
        .env("ACME_TOKEN");
    const BASE_URL: Key =
        Key::url("base_url", "API root", UrlRule::BASE).default("https://api.acme.test");
    const CALLBACK_URL: Key = Key::url("callback_url", "Where the vendor calls", UrlRule::EXACT);
    const ACCOUNT: Key = Key::string("account", "Account id").required();
    const NOTE: Key = Key::string("note", "Free text");
    const PASSWORD: Key = Key::string("password", "Optional secret").secret();
    const MODE: Key = Key::one_of("mode", "fast or slow", &["fast", "slow"]);
    const HEADER: Key = Key::header_name("header", "Header name").default("x-acme");
    const TIMEOUT_MS: Key = Key::positive("timeout_ms", "Milliseconds (default 1000)", 1_000);
    const PACE_MS: Key = Key::integer_between("pace_ms", "Milliseconds", 10, 0, 100);
    const LOUD: Key = Key::boolean("loud", "Shout (default true)", true);

    static SCHEMA: Schema = Schema::new(
        "acme",
        &[
            TOKEN,
            BASE_URL,
            CALLBACK_URL,
            ACCOUNT,
            NOTE,
            PASSWORD,
            MODE,
            HEADER,
            TIMEOUT_MS,
            PACE_MS,
            LOUD,
        ],
    );

    #[derive(Debug)]
    struct Read {
        token: Secret,
        base_url: String,
        callback_url: Option<String>,
        account: String,
        note: Option<String>,
        password: Option<Secret>,
        mode: &'static str,
        header: String,
        timeout_ms: u64,
        pace_ms: u64,
        loud: bool,
    }

    fn read_with(schema: &Schema, config: &Value) -> Result<Read, Vec<ConfigProblem>> {
        let mut read = schema.read(config)?;
        let value = Read {
            token: read.secret(&TOKEN),
            base_url: read.string(&BASE_URL),
            callback_url: read.optional_string(&CALLBACK_URL),
            account: read.string(&ACCOUNT),
            note: read.optional_string(&NOTE),
            password: read.optional_secret(&PASSWORD),
            mode: read.choice(&MODE),
            header: read.string(&HEADER),
            timeout_ms: read.integer(&TIMEOUT_MS),
            pace_ms: read.integer(&PACE_MS),
            loud: read.boolean(&LOUD),
        };
        read.finish(value)
    }

    fn read(config: Value) -> Result<Read, Vec<ConfigProblem>> {
        read_with(&SCHEMA, &config)
    }

    fn minimal() -> Value {
        json!({"token": "t-1", "account": "acc-1"})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut config = minimal();
        config[key] = value;
        config
    }

    /// The problems of `config`, as (key, message).
    fn problems(config: Value) -> Vec<(String, String)> {
        match read(config) {
            Ok(read) => panic!("accepted: {read:?}"),
            Err(problems) => problems.into_iter().map(|p| (p.key, p.message)).collect(),
        }
    }

    /// The one problem of `config`, which must be at `key`.
    fn problem(config: Value, key: &str) -> String {
        let found = problems(config);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, key, "{found:?}");
        found[0].1.clone()
    }

    #[test]
    fn the_manifest_lists_every_key_as_declared() {
        let keys = SCHEMA.config_keys();
        assert_eq!(keys.len(), SCHEMA.keys().len());
        assert_eq!(
            keys[0],
            ConfigKey::new("token", ConfigValueKind::String, "The vendor's key")
                .required()
                .secret()
                .env("ACME_TOKEN")
        );
        assert_eq!(
            keys[1],
            ConfigKey::new("base_url", ConfigValueKind::String, "API root")
        );
        let kinds: Vec<(&str, ConfigValueKind)> =
            keys.iter().map(|k| (k.name.as_str(), k.kind)).collect();
        use ConfigValueKind::{Boolean, Integer, String};
        assert_eq!(
            kinds,
            [
                ("token", String),
                ("base_url", String),
                ("callback_url", String),
                ("account", String),
                ("note", String),
                ("password", String),
                ("mode", String),
                ("header", String),
                ("timeout_ms", Integer),
                ("pace_ms", Integer),
                ("loud", Boolean),
            ]
        );
        let secret: Vec<&str> = keys
            .iter()
            .filter(|k| k.secret)
            .map(|k| k.name.as_str())
            .collect();
        assert_eq!(secret, ["token", "password"]);
        assert_eq!(SCHEMA.kind(), "acme");
    }

    #[test]
    fn unset_keys_take_their_defaults() {
        let read = read(minimal()).unwrap();
        assert_eq!(read.token.expose(), "t-1");
        assert_eq!(read.account, "acc-1");
        assert_eq!(read.base_url, "https://api.acme.test");
        assert_eq!(read.callback_url, None);
        assert_eq!(read.note, None);
        assert!(read.password.is_none());
        assert_eq!(read.mode, "fast");
        assert_eq!(read.header, "x-acme");
        assert_eq!(read.timeout_ms, 1_000);
        assert_eq!(read.pace_ms, 10);
        assert!(read.loud);
        // `null` is not set, as a missing key is.
        let nulls = json!({"token": "t", "account": "a", "note": null, "timeout_ms": null,
                           "loud": null, "mode": null, "base_url": null});
        let read = super::tests::read(nulls).unwrap();
        assert_eq!(
            (read.note, read.timeout_ms, read.loud, read.mode),
            (None, 1_000, true, "fast")
        );
        assert_eq!(read.base_url, "https://api.acme.test");
    }

    #[test]
    fn given_values_are_read() {
        let read = read(json!({
            "token": "t-1",
            "base_url": "http://127.0.0.1:9000/v2/",
            "callback_url": "https://gw.example/webhooks/acme/?tenant=a",
            "account": " acc-1 ",
            "note": "hello",
            "password": "pw",
            "mode": "slow",
            "header": "X-Acme-Secret",
            "timeout_ms": 2500,
            "pace_ms": 0,
            "loud": false,
        }))
        .unwrap();
        assert_eq!(read.base_url, "http://127.0.0.1:9000/v2");
        assert_eq!(
            read.callback_url.as_deref(),
            Some("https://gw.example/webhooks/acme/?tenant=a")
        );
        assert_eq!(read.account, " acc-1 ", "read as given by default");
        assert_eq!(read.note.as_deref(), Some("hello"));
        assert_eq!(read.password.as_ref().map(Secret::expose), Some("pw"));
        assert_eq!(read.mode, "slow");
        assert_eq!(read.header, "x-acme-secret");
        assert_eq!((read.timeout_ms, read.pace_ms), (2500, 0));
        assert!(!read.loud);
    }

    #[test]
    fn every_problem_is_collected_unknown_keys_first() {
        let found = problems(json!({
            "token": 7,
            "base_url": "ftp://api.acme.test",
            "colour": "blue",
            "mode": "medium",
            "header": "x acme",
            "timeout_ms": 0,
            "pace_ms": 101,
            "loud": "yes",
            "zebra": 1,
        }));
        let expected = [
            ("colour", "unknown key"),
            ("zebra", "unknown key"),
            ("token", "expected a string"),
            (
                "base_url",
                "'ftp://api.acme.test' is not a URL: it must start with https:// or http://",
            ),
            ("account", "missing: required by kind 'acme'"),
            ("mode", "must be 'fast' or 'slow', not 'medium'"),
            ("header", "'x acme' is not a valid HTTP header name"),
            ("timeout_ms", "must be a positive number, not 0"),
            ("pace_ms", "must be between 0 and 100"),
            ("loud", "expected true or false"),
        ];
        assert_eq!(
            found,
            expected.map(|(k, m)| (k.to_owned(), m.to_owned())),
            "a wrong type is not reported as missing too"
        );
    }

    #[test]
    fn only_tables_are_read() {
        for odd in [json!([]), json!("text"), json!(42), json!(null)] {
            let found = problems(odd);
            assert_eq!(found, [(String::new(), "expected a table".to_owned())]);
        }
    }

    #[test]
    fn blank_strings_are_not_set() {
        assert_eq!(
            problem(with("account", json!("  ")), "account"),
            "missing: required by kind 'acme'"
        );
        let read =
            read(json!({"token": "t", "account": "a", "note": " ", "base_url": ""})).unwrap();
        assert_eq!(read.note, None);
        assert_eq!(read.base_url, "https://api.acme.test");
    }

    #[test]
    fn trimmed_schemas_trim_and_others_keep_whitespace() {
        let config = json!({"token": " t ", "account": " a ", "note": "\tn", "mode": " slow "});
        let trimmed = read_with(&SCHEMA.strings(Strings::Trimmed), &config).unwrap();
        assert_eq!(
            (
                trimmed.token.expose(),
                trimmed.account.as_str(),
                trimmed.mode
            ),
            ("t", "a", "slow")
        );
        assert_eq!(trimmed.note.as_deref(), Some("n"));
        // As given, " slow " is not an option.
        let found = read_with(&SCHEMA, &config).unwrap_err();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].message, "must be 'fast' or 'slow', not ' slow '");
    }

    #[test]
    fn empty_is_unset_keeps_blank_values() {
        let schema = SCHEMA.strings(Strings::EmptyIsUnset);
        let config = json!({"token": "t", "account": "a", "note": " ", "password": ""});
        let read = read_with(&schema, &config).unwrap();
        assert_eq!(read.note.as_deref(), Some(" "));
        assert!(read.password.is_none());
        let found = read_with(&schema, &json!({"token": "t", "account": 1})).unwrap_err();
        assert_eq!(found[0].message, "expected a string");
    }

    #[test]
    fn non_empty_schemas_refuse_empty_strings_and_other_types() {
        let schema = SCHEMA.strings(Strings::NonEmpty);
        let found = read_with(
            &schema,
            &json!({"token": "", "account": null, "note": 3, "password": " "}),
        )
        .unwrap_err();
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|p| (p.key.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("token", "must be a non-empty string"),
                ("account", "must be a non-empty string"),
                ("note", "must be a non-empty string"),
            ],
            "a blank string is a value"
        );
        let found = read_with(&schema, &json!({"token": "t"})).unwrap_err();
        assert_eq!(found[0].message, "missing: required by kind 'acme'");
    }

    #[test]
    fn a_key_may_word_its_missing_problem() {
        const KEY: Key = Key::string("api_key", "Acme's key")
            .required()
            .missing_message("missing: Acme's API key");
        static ONE: Schema = Schema::new("acme", &[KEY]);
        let empty = Map::new();
        let mut read = ONE.read_table(&empty);
        assert_eq!(read.string(&KEY), "");
        let found = read.finish(()).unwrap_err();
        assert_eq!(
            found,
            [ConfigProblem::new("api_key", "missing: Acme's API key")]
        );
    }

    #[test]
    fn integers_must_be_whole_numbers() {
        for (value, message) in [
            (json!("fast"), "expected an integer"),
            (json!(2.5), "expected an integer"),
            (json!(u64::MAX), "expected an integer"),
            (json!(-3), "must be a positive number, not -3"),
        ] {
            assert_eq!(problem(with("timeout_ms", value), "timeout_ms"), message);
        }
        assert_eq!(
            problem(with("pace_ms", json!(-1)), "pace_ms"),
            "must be between 0 and 100"
        );
        assert_eq!(read(with("pace_ms", json!(100))).unwrap().pace_ms, 100);
    }

    #[test]
    fn one_of_lists_its_options() {
        const THREE: Key = Key::one_of("auth", "How", &["secret", "bearer", "hmac"]);
        static ONE: Schema = Schema::new("acme", &[THREE]);
        let config = json!({"auth": "basic"});
        let mut read = ONE.read(&config).unwrap();
        assert_eq!(read.choice(&THREE), "secret");
        assert_eq!(
            read.finish(()).unwrap_err()[0].message,
            "must be 'secret', 'bearer' or 'hmac', not 'basic'"
        );
    }

    #[test]
    fn base_urls_are_checked() {
        for (bad, message) in [
            (
                "api.acme.test",
                "is not a URL: it must start with https:// or http://",
            ),
            ("https://", "is not a URL: it has no host"),
            ("https:///v1", "is not a URL: it has no host"),
            (
                "https://api acme.test",
                "is not a URL: it contains whitespace",
            ),
            (
                "https://api.acme.test:http",
                "is not a URL: bad host or port",
            ),
            ("https://api.acme.test:0", "is not a URL: bad host or port"),
            (
                "https://api.acme.test:70000",
                "is not a URL: bad host or port",
            ),
            ("https://api_acme.test", "is not a URL: bad host or port"),
            ("https://[]", "is not a URL: bad host or port"),
            (
                "https://api.acme.test?x=1",
                "must not have a query or fragment: paths are appended to it",
            ),
            (
                "https://api.acme.test/#top",
                "must not have a query or fragment: paths are appended to it",
            ),
        ] {
            assert_eq!(
                problem(with("base_url", json!(bad)), "base_url"),
                format!("'{bad}' {message}")
            );
        }
        assert_eq!(
            problem(
                with("base_url", json!("https://u:p@api.acme.test")),
                "base_url"
            ),
            "must not contain credentials"
        );
        for (good, read_as) in [
            ("http://127.0.0.1:8089", "http://127.0.0.1:8089"),
            ("https://api.acme.test/", "https://api.acme.test"),
            ("http://[::1]:9000/proxy/", "http://[::1]:9000/proxy"),
            ("http://localhost", "http://localhost"),
        ] {
            assert_eq!(
                read(with("base_url", json!(good))).unwrap().base_url,
                read_as
            );
        }
    }

    #[test]
    fn exact_urls_may_have_a_query_and_are_kept_as_given() {
        let url = "https://gw.example/hooks/?tenant=a";
        let read = read(with("callback_url", json!(url))).unwrap();
        assert_eq!(read.callback_url.as_deref(), Some(url));
        let fragment = "https://gw.example/hooks#x";
        assert_eq!(
            problem(with("callback_url", json!(fragment)), "callback_url"),
            format!("'{fragment}' must not have a fragment")
        );
        let no_host = "https://?tenant=a";
        assert_eq!(
            problem(with("callback_url", json!(no_host)), "callback_url"),
            format!("'{no_host}' is not a URL: it has no host")
        );
    }

    #[test]
    fn url_rules_word_their_problems() {
        let rule = UrlRule::BASE
            .schemes_hint("https://")
            .credentials_hint("use api_key");
        assert_eq!(
            check_url("ftp://x", &rule).unwrap_err(),
            "'ftp://x' is not a URL: it must start with https://"
        );
        assert_eq!(
            check_url("https://u@x", &rule).unwrap_err(),
            "must not contain credentials: use api_key"
        );
        let one = UrlRule::BASE.message("must be an http(s) URL");
        for bad in ["ftp://x", "https://", "https://a b", "https://u@x"] {
            assert_eq!(check_url(bad, &one).unwrap_err(), "must be an http(s) URL");
        }
        assert_eq!(check_url("https://x/", &one).unwrap(), "https://x");
    }

    #[test]
    fn defaults_are_checked_like_given_values() {
        const BAD: Key = Key::url("base_url", "API root", UrlRule::BASE).default("not a url");
        static ONE: Schema = Schema::new("acme", &[BAD]);
        let empty = Map::new();
        let mut read = ONE.read_table(&empty);
        read.string(&BAD);
        assert_eq!(read.finish(()).unwrap_err()[0].key, "base_url");
    }

    #[test]
    fn problems_of_several_keys_are_the_provider_s_to_report() {
        let config = minimal();
        let mut read = SCHEMA.read(&config).unwrap();
        let value = Read {
            token: read.secret(&TOKEN),
            base_url: read.string(&BASE_URL),
            callback_url: read.optional_string(&CALLBACK_URL),
            account: read.string(&ACCOUNT),
            note: read.optional_string(&NOTE),
            password: read.optional_secret(&PASSWORD),
            mode: read.choice(&MODE),
            header: read.string(&HEADER),
            timeout_ms: read.integer(&TIMEOUT_MS),
            pace_ms: read.integer(&PACE_MS),
            loud: read.boolean(&LOUD),
        };
        assert!(!read.has_problem(&LOUD));
        if value.loud {
            read.problem(&LOUD, "too loud for production");
        }
        assert!(read.has_problem(&LOUD));
        let found = read.finish(value).unwrap_err();
        assert_eq!(
            found,
            [ConfigProblem::new("loud", "too loud for production")]
        );
    }

    /// The gateway checks a table against the manifest and converts values to each key's
    /// declared kind before the provider reads it: a value of that kind is never a type problem.
    #[test]
    fn values_of_the_declared_kind_are_read() {
        for key in SCHEMA.keys() {
            let value = match key.kind() {
                ConfigValueKind::Integer => json!(5),
                ConfigValueKind::Boolean => json!(false),
                _ => continue,
            };
            assert!(read(with(key.name(), value)).is_ok(), "{}", key.name());
        }
        let strings = json!({"token": "t", "base_url": "https://x", "callback_url": "https://y",
            "account": "a", "note": "n", "password": "p", "mode": "slow", "header": "x-h"});
        assert!(read(strings).is_ok());
        // What the gateway passes for an empty optional string ("") reads as not set.
        for key in SCHEMA
            .keys()
            .iter()
            .filter(|k| k.kind() == ConfigValueKind::String)
        {
            if !key.required {
                assert!(read(with(key.name(), json!(""))).is_ok(), "{}", key.name());
            }
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let read =
            read(json!({"token": "t-very-secret", "account": "a", "password": "pw-1"})).unwrap();
        let shown = format!("{read:?}");
        assert!(shown.contains("token: [redacted]"), "{shown}");
        assert!(shown.contains("password: Some([redacted])"), "{shown}");
        assert!(!shown.contains("t-very-secret") && !shown.contains("pw-1"));
        let config = json!({"token": "t-very-secret"});
        let reader = SCHEMA.read(&config).unwrap();
        assert!(!format!("{reader:?}").contains("t-very-secret"));
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "which its schema does not allow")]
    fn reading_an_unlisted_key_fails_in_tests() {
        const OTHER: Key = Key::string("other", "Not in the schema");
        let config = minimal();
        let mut read = SCHEMA.read(&config).unwrap();
        read.optional_string(&OTHER);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "which its schema does not allow")]
    fn reading_a_key_as_another_type_fails_in_tests() {
        let config = minimal();
        let mut read = SCHEMA.read(&config).unwrap();
        read.boolean(&TIMEOUT_MS);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "which its schema does not allow")]
    fn reading_a_secret_as_plain_text_fails_in_tests() {
        let config = minimal();
        let mut read = SCHEMA.read(&config).unwrap();
        read.string(&TOKEN);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "which its schema does not allow")]
    fn reading_an_optional_key_as_always_set_fails_in_tests() {
        let config = minimal();
        let mut read = SCHEMA.read(&config).unwrap();
        read.string(&NOTE);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "never reads it")]
    fn leaving_a_key_unread_fails_in_tests() {
        let config = minimal();
        let mut read = SCHEMA.read(&config).unwrap();
        read.secret(&TOKEN);
        let _ = read.finish(());
    }

    #[cfg(not(debug_assertions))]
    #[test]
    fn reading_an_unlisted_key_refuses_the_config() {
        const OTHER: Key = Key::string("other", "Not in the schema");
        let config = minimal();
        let mut read = SCHEMA.read(&config).unwrap();
        assert_eq!(read.optional_string(&OTHER), None);
        assert!(read.has_problem(&OTHER));
    }
}
