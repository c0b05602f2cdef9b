//! End-to-end tests: the real gateway, in-process, on a real loopback socket with its own
//! database: a SQLite file in a temp dir, or a schema of its own on the PostgreSQL server that
//! `TEST_DATABASE_URL` names (`scripts/with-postgres cargo test` starts one). The CLI tests run
//! the built binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod backup;
mod calls;
mod cli;
mod crash;
mod db_proxy;
mod docs;
mod elevenlabs;
mod erasure;
mod errors;
mod events;
mod harness;
mod headers;
mod instances;
mod live;
mod live_access;
mod login;
mod migrations;
mod mock_vendor;
mod plugins;
mod recovery;
mod replay;
mod retell;
mod retention;
mod vapi;
mod vendors;
mod webhooks;
mod websocket;
