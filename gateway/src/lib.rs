//! voice-gateway: one API for outbound AI phone calls, whatever vendor runs them.
//!
//! Read top-down: [`cli`] -> [`config`] -> [`store`] -> [`server`] with its routes ([`api`],
//! [`webhooks`], [`ws`]) -> the ingest pipeline ([`ingest`]) -> outbound calls ([`dispatch`], sent by [`outbound`]).

pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod events;
pub mod gateway;
pub mod http;
pub mod ingest;
pub mod live;
pub mod outbound;
pub mod plugin_cli;
pub mod plugins;
pub mod providers;
pub mod prune_cli;
pub mod reconcile;
pub mod recovery;
pub mod replay;
pub mod retention;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod user_cli;
pub mod views;
pub mod webhooks;
pub mod ws;
