//! The gatehouse authorization server as a library: the binary (`main.rs`) only parses
//! the command line and calls [`commands::run`]; tests call [`startup::Application`].
#![forbid(unsafe_code)]

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod bounded;
pub mod cli;
pub mod client_auth;
pub mod coarse_time;
pub mod commands;
pub mod error;
pub mod extract;
pub mod fanout;
pub mod form;
pub mod hashing;
pub mod import;
pub mod keys;
pub mod metrics;
pub mod middleware;
pub mod net;
pub mod openapi;
pub mod request_ctx;
pub mod revocation;
pub mod roles;
pub mod routes;
pub mod sched;
pub mod secrets;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod tokens;
pub mod user_cache;
pub mod verified_cache;
