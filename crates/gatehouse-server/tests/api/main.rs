//! Black-box HTTP tests: each test spawns its own server on port 0 with its own database.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub, dead_code)]

mod abuse;
mod admin;
mod api_keys;
mod browser;
mod clients;
mod cookies;
mod discovery;
mod helpers;
mod observability;
mod openapi;
mod refresh;
mod resource;
mod revoke;
mod timing;
mod token;
