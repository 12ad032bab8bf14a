//! The command line. Doc comments are the help text.

use std::io::BufRead as _;

use clap::{Parser, Subcommand};

/// gatehouse — an OAuth 2.0 authorization server for HTTP APIs.
///
/// Configuration comes from GATEHOUSE_* environment variables, an optional TOML file
/// (--config or GATEHOUSE_CONFIG) and, in development, a .env file.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// TOML configuration file (same names as the environment, lower case, no prefix).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies migrations, creates keys and the bootstrap admin if needed).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage confidential OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Work with tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Import users with their existing password hashes (bcrypt, passlib/pwdlib, Django
    /// PBKDF2, argon2), from JSON Lines or CSV. Hashes are upgraded to the server's argon2id
    /// at each user's next login.
    ///
    /// Fields: username, password_hash (or hashed_password), and optionally email, roles
    /// (JSON array, or in CSV separated by `;` or spaces; default: user) and disabled.
    /// Every row is validated; rejected rows are reported with their line number and
    /// reason, and the valid rows are still imported. Users whose name already exists
    /// (after case folding) are skipped, never overwritten, so re-running a file is safe.
    ///
    /// Exit status: 0 when every row was imported or skipped as existing; 1 when any row
    /// was rejected or the file could not be read; 2 for invalid configuration.
    Import {
        /// The file to read.
        file: std::path::PathBuf,
        /// File format [default: csv for a .csv file, otherwise jsonl].
        #[arg(long, value_enum)]
        format: Option<crate::import::Format>,
        /// Validate and report what would be imported, without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `gatehouse user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin a random password is generated and printed once.
    Create {
        /// Login name.
        username: String,
        /// Role to grant (repeatable; default: user).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password; ends their sessions and outstanding tokens.
    SetPassword {
        /// Login name.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: logins, refreshes and outstanding tokens stop working.
    Disable {
        /// Login name.
        username: String,
    },
    /// Add a role to a user.
    GrantRole {
        /// Login name.
        username: String,
        /// Role name.
        role: String,
    },
}

/// `gatehouse client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and secret (shown once).
    Create {
        /// Display name.
        name: String,
        /// Scope it may be granted (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Grant type it may use (repeatable; default client_credentials).
        #[arg(long = "grant")]
        grants: Vec<String>,
    },
}

/// `gatehouse apikey …`
#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create an API key for a user; prints it once.
    Create {
        /// Owner's login name.
        username: String,
        /// Label.
        #[arg(long)]
        name: String,
        /// Scope (repeatable; must be among the owner's scopes).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long)]
        expires_in: Option<i64>,
    },
}

/// `gatehouse keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state.
    List,
    /// Add a new active key; current keys keep being published until their tokens expire.
    Rotate,
    /// Remove a key from the JWKS now (tokens it signed stop verifying).
    Retire {
        /// Key id.
        kid: String,
    },
}

/// `gatehouse config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate and print the effective configuration, secrets redacted.
    Check,
}

/// `gatehouse token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Decode a token and verify it against this server's keys and settings.
    Inspect {
        /// The access token.
        token: String,
    },
}

/// Reads one line from stdin (without the newline).
///
/// # Errors
/// I/O errors, or an empty line.
pub fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let p = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!p.is_empty(), "no password on standard input");
    Ok(p)
}
