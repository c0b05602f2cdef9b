//! `voice-gateway user ...`: manage users from the command line, e.g. the first admin of a
//! fresh install (which has no default user and no default password).

#![allow(clippy::print_stdout)]

use std::io::{BufRead, IsTerminal};

use crate::api::admin::{check_email, check_username};
use crate::audit::{self, Outcome, Record, Who};
use crate::auth::{Role, password};
use crate::cli::UserCommand;
use crate::config::Settings;
use crate::store::{NewUser, Store, UserChange, is_conflict};

/// Runs one user command against the configured database.
pub async fn run(settings: &Settings, command: UserCommand) -> Result<(), String> {
    let store = Store::open(&settings.database)
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let result = execute(&store, command).await;
    store.close().await;
    result
}

async fn execute(store: &Store, command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Create {
            username,
            email,
            role,
            password_stdin,
        } => {
            let username = check_username(&username)?;
            let email = check_email(&email)?;
            let role: Role = role.parse()?;
            let password = read_password(password_stdin).await?;
            password::check_rules(&password)?;
            let password_hash = password::hash(password).await?;
            let new = NewUser {
                username,
                email,
                password_hash,
                role: role.as_str().to_owned(),
            };
            let user = store.create_user(&new).await.map_err(|e| {
                if is_conflict(&e) {
                    "username or email already taken".to_owned()
                } else {
                    e.to_string()
                }
            })?;
            audit_cli(store, "user.create", &user.id, Some(format!("role={role}"))).await;
            println!(
                "created {} user '{}' ({})",
                user.role, user.username, user.id
            );
        }
        UserCommand::List => {
            println!(
                "{:<38} {:<24} {:<32} {:<9} DISABLED",
                "ID", "USERNAME", "EMAIL", "ROLE"
            );
            for user in store.list_users().await.map_err(|e| e.to_string())? {
                println!(
                    "{:<38} {:<24} {:<32} {:<9} {}",
                    user.id, user.username, user.email, user.role, user.disabled
                );
            }
        }
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let password = read_password(password_stdin).await?;
            password::check_rules(&password)?;
            let change = UserChange {
                password_hash: Some(password::hash(password).await?),
                ..UserChange::default()
            };
            let id = update(store, &username, &change).await?;
            audit_cli(
                store,
                "user.update",
                &id,
                Some("password_changed=true".into()),
            )
            .await;
            println!("password of '{username}' changed; their sessions are revoked");
        }
        UserCommand::Disable { username } => {
            let change = UserChange {
                disabled: Some(true),
                ..UserChange::default()
            };
            let id = update(store, &username, &change).await?;
            audit_cli(store, "user.update", &id, Some("disabled=true".into())).await;
            println!("'{username}' is disabled; their sessions are revoked");
        }
    }
    Ok(())
}

async fn update(store: &Store, username: &str, change: &UserChange) -> Result<String, String> {
    let (user, _) = store
        .user_for_login(username)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user '{username}'"))?;
    store
        .update_user(&user.id, change)
        .await
        .map_err(|e| e.to_string())?;
    Ok(user.id)
}

async fn audit_cli(store: &Store, action: &str, user_id: &str, detail: Option<String>) {
    let record = Record {
        who: Who::Cli,
        action,
        target: Some(format!("user:{user_id}")),
        client_addr: None,
        outcome: Outcome::Success,
        detail,
    };
    audit::append(store, record).await;
}

/// From standard input with `--password-stdin` (one line), else a prompt without echo, asked twice.
async fn read_password(from_stdin: bool) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        if from_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
        }
        if !std::io::stdin().is_terminal() {
            return Err(
                "no terminal to prompt on: pass --password-stdin and pipe the password".to_owned(),
            );
        }
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let second = rpassword::prompt_password("Repeat password: ").map_err(|e| e.to_string())?;
        if first != second {
            return Err("the passwords differ".to_owned());
        }
        Ok(first)
    })
    .await
    .map_err(|e| e.to_string())?
}
