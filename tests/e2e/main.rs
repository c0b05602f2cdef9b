//! End-to-end tests: the real gateway, in-process, on a real loopback socket with its own
//! SQLite database in a temp dir; the CLI tests run the built binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod calls;
mod cli;
mod docs;
mod elevenlabs;
mod errors;
mod harness;
mod live;
mod mock_vendor;
mod plugins;
mod vapi;
mod webhooks;
mod websocket;
