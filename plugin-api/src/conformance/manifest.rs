//! The checks of the factory: its manifest, and how it takes an invalid and a valid config.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Outcome, Subject, context, describe_problems, finish, guarded};
use crate::provider::Manifest;

pub(super) fn is_kind(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub(super) fn is_snake_case(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.ends_with('_')
        && !name.contains("__")
}

fn is_env_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A lower-case HTTP header name (an RFC 9110 token without upper-case letters).
fn is_lower_case_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// `MAJOR.MINOR.PATCH`, optionally followed by `-pre` and `+build` parts.
pub(super) fn is_semver(version: &str) -> bool {
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let label_ok = |label: Option<&str>| {
        label.is_none_or(|l| {
            !l.is_empty()
                && l.split('.').all(|part| {
                    !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        })
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
        && label_ok(pre)
        && label_ok(build)
}

pub(super) fn check_manifest(
    subject: &Subject<'_>,
    manifest: &Result<Manifest, String>,
) -> Outcome {
    let manifest = manifest
        .as_ref()
        .map_err(|panic| format!("ProviderFactory::manifest {panic}"))?;
    let mut problems = Vec::new();
    if !is_kind(&manifest.kind) {
        problems.push(format!("kind '{}' must match [a-z0-9_]+", manifest.kind));
    }
    if !is_semver(&manifest.version) {
        problems.push(format!(
            "version '{}' is not a semantic version (MAJOR.MINOR.PATCH)",
            manifest.version
        ));
    }
    if manifest.description.trim().is_empty() {
        problems.push("description is empty".to_owned());
    }
    let mut seen = BTreeSet::new();
    for key in &manifest.config_keys {
        if !is_snake_case(&key.name) {
            problems.push(format!("config key '{}' is not snake_case", key.name));
        }
        if !seen.insert(key.name.as_str()) {
            problems.push(format!("config key '{}' is listed twice", key.name));
        }
        if key.description.trim().is_empty() {
            problems.push(format!("config key '{}' has no description", key.name));
        }
        if let Some(variable) = &key.env {
            if !is_env_name(variable) {
                problems.push(format!(
                    "config key '{}' names the environment variable '{variable}', not an \
                     UPPER_SNAKE_CASE name",
                    key.name
                ));
            }
        }
    }
    for header in &manifest.credential_headers {
        if !is_lower_case_header_name(header) {
            problems.push(format!(
                "credential header '{header}' is not a lower-case header name (the gateway \
                 matches header names lower-cased)"
            ));
        }
    }
    match subject.valid_config.as_object() {
        None => problems.push("the subject's valid_config is not a JSON object".to_owned()),
        Some(table) => {
            for key in manifest.config_keys.iter().filter(|k| k.required) {
                if !table.contains_key(&key.name) {
                    problems.push(format!(
                        "required config key '{}' is missing from the subject's valid_config",
                        key.name
                    ));
                }
            }
            for name in table.keys() {
                if !seen.contains(name.as_str()) {
                    problems.push(format!(
                        "valid_config has the key '{name}', which the manifest does not list \
                         (the gateway refuses undeclared keys)"
                    ));
                }
            }
        }
    }
    finish(problems, || {
        format!(
            "kind '{}', version {}, {} config keys",
            manifest.kind,
            manifest.version,
            manifest.config_keys.len()
        )
    })
}

pub(super) fn check_invalid_config(subject: &Subject<'_>, _: &Result<Manifest, String>) -> Outcome {
    let validate = |config: &Value| {
        guarded(|| subject.factory.validate_config(&context(), config))
            .map(|result| result.map(|provider| guarded(move || drop(provider))))
    };
    let mut problems = Vec::new();
    let summary = match validate(&subject.invalid_config) {
        Err(panic) => {
            problems.push(format!("validate_config(invalid_config) {panic}"));
            String::new()
        }
        Ok(Ok(_)) => {
            problems.push("validate_config accepted invalid_config".to_owned());
            String::new()
        }
        Ok(Err(reported)) => {
            if reported.is_empty() {
                problems.push(
                    "validate_config refused invalid_config but listed no problem".to_owned(),
                );
            }
            if reported.iter().any(|p| p.message.trim().is_empty()) {
                problems.push(format!(
                    "a problem has an empty message: {}",
                    describe_problems(&reported)
                ));
            }
            format!(
                "{} problem(s): {}",
                reported.len(),
                describe_problems(&reported)
            )
        }
    };
    // Configs that are not tables at all: refusing or accepting them is the provider's call (the
    // gateway only hands it tables), panicking is not.
    for odd in [
        json!(null),
        json!([]),
        json!("text"),
        json!(42),
        json!({"": {"": []}}),
    ] {
        if let Err(panic) = validate(&odd) {
            problems.push(format!("validate_config({odd}) {panic}"));
        }
    }
    finish(problems, || summary)
}

pub(super) fn check_instance_manifest(
    factory: &Result<Manifest, String>,
    instance: &Result<Manifest, String>,
) -> Outcome {
    let instance = instance
        .as_ref()
        .map_err(|panic| format!("the instance's manifest {panic}"))?;
    let Ok(factory) = factory else {
        return Ok(format!("built an instance of kind '{}'", instance.kind));
    };
    let mut problems = Vec::new();
    if instance.kind != factory.kind {
        problems.push(format!(
            "the instance's kind '{}' differs from the factory's '{}'",
            instance.kind, factory.kind
        ));
    }
    if instance.version != factory.version {
        problems.push(format!(
            "the instance's version '{}' differs from the factory's '{}'",
            instance.version, factory.version
        ));
    }
    if instance.config_keys != factory.config_keys {
        problems.push("the instance's config keys differ from the factory's".to_owned());
    }
    finish(problems, || {
        format!("built an instance of kind '{}'", instance.kind)
    })
}
