//! The command line: `voice-gateway [--config PATH] [serve|migrate|prune|backup|restore|openapi|asyncapi|user|plugin]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{ConfigFile, DEFAULT_CONFIG_PATH};

#[derive(Debug, Parser)]
#[command(
    name = "voice-gateway",
    version,
    about = "One API for outbound AI phone calls, whatever vendor runs them"
)]
pub struct Cli {
    /// Config file (TOML). Default: config/voice-gateway.toml if it exists, else built-in defaults.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start the gateway (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (JSON), identical to what `/openapi.json` serves.
    Openapi,
    /// Print the AsyncAPI document of the live stream (JSON), identical to `/asyncapi.json`.
    Asyncapi,
    /// Remove what `[retention]` says is too old, once, and print what was removed (applies
    /// migrations first if needed).
    Prune {
        /// Remove nothing: print what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Manage users (applies migrations first if needed).
    #[command(subcommand)]
    User(UserCommand),
    /// Work with provider plugins (shared libraries).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Write a consistent snapshot of the SQLite database to FILE (a new file), while the
    /// gateway serves. PostgreSQL: use pg_dump.
    Backup {
        /// Where to write the backup; must not exist.
        file: PathBuf,
    },
    /// Replace the SQLite database with the backup FILE; refused while a gateway serves it.
    /// PostgreSQL: use pg_restore.
    Restore {
        /// A backup written by `voice-gateway backup`.
        file: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum PluginCommand {
    /// Load a plugin, print its manifest and run the conformance suite against it.
    Check {
        /// The plugin library (.so, .dylib or .dll).
        path: PathBuf,
        /// A TOML file with the plugin's `[config]` and the `[samples]` only its author can give
        /// (see docs/writing-a-provider.md).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum UserCommand {
    /// Create a user (e.g. the first admin).
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// admin, operator or viewer.
        #[arg(long)]
        role: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password (signs them out everywhere).
    SetPassword {
        #[arg(long)]
        username: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user (signs them out everywhere).
    Disable {
        #[arg(long)]
        username: String,
    },
}

impl Cli {
    pub fn config_file(&self) -> ConfigFile {
        match &self.config {
            Some(path) => ConfigFile::Explicit(path.clone()),
            None => ConfigFile::Default(PathBuf::from(DEFAULT_CONFIG_PATH)),
        }
    }
}
