use std::process::ExitCode;

use clap::Parser;
use tracing::{error, info};
use voice_gateway::cli::{Cli, Command, PluginCommand};
use voice_gateway::config::Settings;
use voice_gateway::providers::Registry;
use voice_gateway::store::Store;
use voice_gateway::{api, backup, live, plugin_cli, prune_cli, server, telemetry, user_cli};

/// Exit code for configuration problems.
const EXIT_CONFIG: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.clone().unwrap_or(Command::Serve);
    if let Command::Plugin(PluginCommand::Check { path, config }) = &command {
        return match plugin_cli::check(path, config.as_deref()) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(message) => {
                eprintln!("plugin check failed: {message}");
                ExitCode::FAILURE
            }
        };
    }
    let document = match command {
        Command::Openapi => Some(api::spec_json()),
        Command::Asyncapi => Some(live::asyncapi::document().to_string()),
        _ => None,
    };
    if let Some(document) = document {
        #[allow(clippy::print_stdout)]
        {
            println!("{document}");
        }
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(&cli.config_file(), &Registry::builtin()) {
        Ok(settings) => settings,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(e) = telemetry::init(&settings.log) {
        eprintln!("cannot set up logging: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let outcome = match command {
        Command::Migrate => migrate(&settings).await,
        Command::Prune { dry_run } => prune_cli::run(&settings, dry_run).await,
        Command::User(action) => user_cli::run(&settings, action).await,
        Command::Serve => serve(settings).await,
        Command::Backup { file } => backup::backup(&settings.database, &file).await.map(|()| {
            info!(file = %file.display(), "backup written");
        }),
        Command::Restore { file, force } => backup::restore(&settings.database, &file, force).await,
        // Answered above, before any config is read.
        Command::Openapi | Command::Asyncapi | Command::Plugin(_) => Ok(()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: &Settings) -> Result<(), String> {
    let store = Store::open(&settings.database)
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    store.close().await;
    info!("migrations applied");
    Ok(())
}

async fn serve(settings: Settings) -> Result<(), String> {
    let running = server::start(settings).await.map_err(|e| e.to_string())?;
    shutdown_signal().await;
    info!("shutting down");
    running.shutdown().await.map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
