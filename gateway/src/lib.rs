//! voice-gateway: one API for outbound AI phone calls, whatever vendor runs them.
//!
//! Read top-down: [`cli`] -> [`config`] -> [`store`] -> [`server`] with its routes ([`api`],
//! [`webhooks`], [`ws`]) -> the ingest pipeline ([`ingest`]) -> outbound calls ([`dispatch`]).

pub mod config;
pub mod dispatch;
pub mod events;
pub mod gateway;
pub mod ingest;
pub mod providers;
pub mod store;
