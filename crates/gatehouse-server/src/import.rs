//! `gatehouse import`: users with their existing password hashes, from JSON Lines or CSV.
//!
//! Two steps. [`parse`] is pure: it reads the file and validates every row (username rules,
//! e-mail shape, a password hash that [`check_stored_hash`] accepts, roles that exist) into
//! the rows to import and the rows rejected, each with its line number and a reason.
//! [`apply`] stores the valid rows, skipping any whose username (after NFKC + case folding)
//! already exists, so running the same file twice imports nothing twice and overwrites
//! nothing. Imported hashes are upgraded to the server's argon2id parameters at each user's
//! first successful login.
//!
//! # Example
//! ```
//! use gatehouse_server::import::{parse, Format};
//!
//! let file = r#"{"username": "alice", "password_hash": "$pbkdf2-sha256$1000$U8q5V0pJCWHMeY/xfm8thQ$hzsIxqSdYkT0tCO.XPVBMtZphFoniIQ6DzpImVmCoEI", "roles": ["user"]}
//! {"username": "bob", "password_hash": "md5:5f4dcc3b5aa765d61d8327deb882cf99"}
//! "#;
//! let parsed = parse(file, Format::Jsonl, |role| role == "user");
//! assert_eq!(parsed.rows.len(), 1);
//! assert_eq!(parsed.rows[0].scheme, "passlib-pbkdf2-sha256");
//! assert_eq!(parsed.rejected[0].line, 2);
//! assert!(parsed.rejected[0].reason.starts_with("password_hash: "));
//! ```

use std::{collections::HashMap, fmt};

use gatehouse_core::{check_stored_hash, username_key, username_problem};
use gatehouse_store::{Storage, StoreError, UserRecord};
use serde_json::Value;

use crate::accounts::check_email;

/// The import file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line: `username`, `password_hash` (or `hashed_password`),
    /// optional `email`, `roles` (array of role names), `disabled` (boolean).
    Jsonl,
    /// A header row naming the columns (same names as JSON Lines), then one user per row;
    /// `roles` separated by `;` or spaces.
    Csv,
}

impl Format {
    /// The format a file name suggests: `.csv` is CSV, anything else JSON Lines.
    pub fn from_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Self::Csv,
            _ => Self::Jsonl,
        }
    }
}

/// A validated user to import.
#[derive(Clone)]
pub struct ImportRow {
    /// 1-based line of the file the row starts on.
    pub line: usize,
    /// Login name as given.
    pub username: String,
    /// NFKC + case-folded name.
    pub username_key: String,
    /// E-mail, if given.
    pub email: Option<String>,
    /// The stored hash, as given.
    pub password_hash: String,
    /// The hash's scheme, as [`check_stored_hash`] names it.
    pub scheme: &'static str,
    /// Role names, de-duplicated (default `["user"]`).
    pub roles: Vec<String>,
    /// Whether the account is imported disabled. Defaults to `false`.
    pub disabled: bool,
}

impl fmt::Debug for ImportRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportRow")
            .field("line", &self.line)
            .field("username", &self.username)
            .field("scheme", &self.scheme)
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .field("password_hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A row that will not be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line of the file the row starts on.
    pub line: usize,
    /// The row's username, when it had one.
    pub username: Option<String>,
    /// What is wrong, naming the field (`"roles: unknown role \"ops\""`).
    pub reason: String,
}

/// What [`parse`] found.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Valid rows, in file order.
    pub rows: Vec<ImportRow>,
    /// Invalid rows, in file order.
    pub rejected: Vec<Rejected>,
    /// A problem with the whole file (e.g. a CSV without the required columns); when set,
    /// `rows` is empty.
    pub file_error: Option<String>,
}

/// One row's fields, before validation.
#[derive(Debug, Default)]
struct RawRow {
    username: Option<String>,
    email: Option<String>,
    password_hash: Option<String>,
    roles: Option<Vec<String>>,
    disabled: bool,
}

/// Rows as read, each with the line it starts on, or why it could not be read.
type RawRows = Vec<(usize, Result<RawRow, String>)>;

/// Reads and validates every row of `input`. `role_exists` says whether a role name is
/// defined. Rows whose username repeats an earlier valid row's (after NFKC + case folding)
/// are rejected, so the file never creates two accounts for one name.
pub fn parse(input: &str, format: Format, role_exists: impl Fn(&str) -> bool) -> Parsed {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let raw = match format {
        Format::Jsonl => Ok(jsonl_rows(input)),
        Format::Csv => csv_rows(input),
    };
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => return Parsed { file_error: Some(e), ..Parsed::default() },
    };
    let mut parsed = Parsed::default();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    for (line, row) in raw {
        let username = row.as_ref().ok().and_then(|r| r.username.clone());
        let outcome =
            row.and_then(|r| validate(line, r, &role_exists)).and_then(|r| match first_line_of.get(&r.username_key) {
                Some(first) => Err(format!("username: same name as line {first} (after case folding)")),
                None => {
                    first_line_of.insert(r.username_key.clone(), line);
                    Ok(r)
                }
            });
        match outcome {
            Ok(r) => parsed.rows.push(r),
            Err(reason) => parsed.rejected.push(Rejected { line, username, reason }),
        }
    }
    parsed
}

fn validate(line: usize, r: RawRow, role_exists: &impl Fn(&str) -> bool) -> Result<ImportRow, String> {
    let username = r.username.ok_or("username: missing")?;
    if let Some(p) = username_problem(&username) {
        return Err(format!("username: {p}"));
    }
    let email = r.email.filter(|e| !e.is_empty());
    if let Some(e) = &email {
        check_email(e).map_err(|_| "email: is not a valid e-mail address".to_owned())?;
    }
    let password_hash = r.password_hash.filter(|h| !h.is_empty()).ok_or("password_hash: missing")?;
    let scheme = check_stored_hash(&password_hash).map_err(|e| format!("password_hash: {}", hash_problem(&e)))?;
    let mut roles: Vec<String> = Vec::new();
    for role in r.roles.unwrap_or_else(|| vec!["user".to_owned()]) {
        if !role_exists(&role) {
            return Err(format!("roles: unknown role {role:?}"));
        }
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(ImportRow {
        line,
        username_key: username_key(&username),
        username,
        email,
        password_hash,
        scheme,
        roles,
        disabled: r.disabled,
    })
}

fn hash_problem(e: &gatehouse_core::Error) -> String {
    match e.kind() {
        gatehouse_core::ErrorKind::PasswordHash(reason) => reason.clone(),
        other => format!("{other:?}"),
    }
}

/// JSON Lines: blank lines are skipped; every other line must be a JSON object.
fn jsonl_rows(input: &str) -> RawRows {
    input.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, json_row(l))).collect()
}

fn json_row(line: &str) -> Result<RawRow, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(obj) = value else { return Err("not a JSON object".into()) };
    let text = |name: &str| -> Result<Option<String>, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name}: must be a string")),
        }
    };
    let password_hash = match text("password_hash")? {
        Some(h) => Some(h),
        None => text("hashed_password")?,
    };
    let roles = match obj.get("roles") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or("roles: must be an array of role names"))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err("roles: must be an array of role names".into()),
    };
    let disabled = match obj.get("disabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("disabled: must be true or false".into()),
    };
    Ok(RawRow { username: text("username")?, email: text("email")?, password_hash, roles, disabled })
}

/// CSV (RFC 4180): a header row, then records. Fields may be quoted with `"` (a doubled
/// `""` inside is one quote) and then may hold commas and line breaks. Blank lines are
/// skipped.
fn csv_rows(input: &str) -> Result<RawRows, String> {
    let mut records = csv_records(input).into_iter();
    let Some((_, header)) = records.next() else { return Err("the CSV file is empty".into()) };
    let header = header.map_err(|e| format!("line 1: {e}"))?;
    let column = |names: &[&str]| header.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)));
    let username = column(&["username"]);
    let hash = column(&["password_hash", "hashed_password"]);
    let (Some(username), Some(hash)) = (username, hash) else {
        return Err("the CSV header must name the columns `username` and `password_hash`".into());
    };
    let email = column(&["email"]);
    let roles = column(&["roles"]);
    let disabled = column(&["disabled"]);
    Ok(records
        .map(|(line, fields)| {
            let row = fields.and_then(|f| {
                if f.len() != header.len() {
                    return Err(format!("has {} fields; the header has {}", f.len(), header.len()));
                }
                let get = |i: Option<usize>| i.and_then(|i| f.get(i)).filter(|s| !s.is_empty()).cloned();
                let disabled = match get(disabled).map(|s| s.to_ascii_lowercase()).as_deref() {
                    None | Some("false" | "0" | "no") => false,
                    Some("true" | "1" | "yes") => true,
                    Some(_) => return Err("disabled: must be true or false".into()),
                };
                Ok(RawRow {
                    username: get(Some(username)),
                    email: get(email),
                    password_hash: get(Some(hash)),
                    roles: get(roles).map(|s| {
                        s.split(|c: char| c == ';' || c.is_whitespace())
                            .filter(|r| !r.is_empty())
                            .map(str::to_owned)
                            .collect()
                    }),
                    disabled,
                })
            });
            (line, row)
        })
        .collect())
}

/// Splits CSV text into records of fields, each with the line it starts on.
fn csv_records(input: &str) -> Vec<(usize, Result<Vec<String>, String>)> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false; // inside a quoted field
        let mut was_quoted = false; // the current field started with a quote
        let mut error = None;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    error = Some("a quoted field is not closed".to_owned());
                }
                break;
            };
            if c == '\n' {
                line += 1;
            }
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                '"' => {
                    if error.is_none() {
                        error = Some("a quote inside an unquoted field (quote the whole field)".to_owned());
                    }
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => break,
                _ if was_quoted => {
                    if error.is_none() {
                        error = Some("text after a closing quote".to_owned());
                    }
                }
                _ => field.push(c),
            }
        }
        fields.push(field);
        let blank = fields.len() == 1 && fields[0].is_empty() && !was_quoted && error.is_none();
        if !blank {
            out.push((start, error.map_or(Ok(fields), Err)));
        }
    }
    out
}

/// What happened to one valid row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored.
    Imported,
    /// A user with the same username key exists; nothing was changed.
    SkippedExists,
    /// `--dry-run`: would have been stored.
    WouldImport,
}

/// Stores each row unless its username key exists (then it is skipped, never
/// overwritten). With `dry_run` nothing is written. Returns each row's outcome, in order.
///
/// # Errors
/// Database errors other than a username conflict; rows before the failure stay imported,
/// and re-running the file continues where it stopped.
pub async fn apply(
    store: &dyn Storage,
    rows: &[ImportRow],
    now: i64,
    dry_run: bool,
) -> Result<Vec<Outcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        if store.user_by_key(&row.username_key).await?.is_some() {
            outcomes.push(Outcome::SkippedExists);
            continue;
        }
        if dry_run {
            outcomes.push(Outcome::WouldImport);
            continue;
        }
        let user = UserRecord {
            id: uuid::Uuid::now_v7().to_string(),
            username: row.username.clone(),
            username_key: row.username_key.clone(),
            email: row.email.clone(),
            password_hash: row.password_hash.clone(),
            roles: row.roles.clone(),
            disabled: row.disabled,
            created_at: now,
            updated_at: now,
            tokens_valid_after: 0,
        };
        match store.create_user(&user).await {
            Ok(()) => outcomes.push(Outcome::Imported),
            // Created by someone else since the lookup: still never overwritten.
            Err(StoreError::Conflict(_)) => outcomes.push(Outcome::SkippedExists),
            Err(e) => return Err(e),
        }
    }
    Ok(outcomes)
}

/// The counts a run ends with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows stored (or, with `--dry-run`, that would be).
    pub imported: usize,
    /// Rows whose username already existed.
    pub skipped: usize,
    /// Invalid rows.
    pub rejected: usize,
}

/// Runs `gatehouse import`: parses `path`, reports every row on standard output (rejected
/// rows on standard error), stores the valid ones.
///
/// # Errors
/// The file cannot be read or has no usable header, a database error, or — after
/// importing every valid row — one or more rows were rejected (the binary exits 1).
pub async fn run(
    store: &dyn Storage,
    path: &std::path::Path,
    format: Option<Format>,
    dry_run: bool,
    now: i64,
) -> anyhow::Result<Summary> {
    use anyhow::Context as _;

    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let format = format.unwrap_or_else(|| Format::from_path(path));
    let roles = store.list_roles().await?;
    let parsed = parse(&text, format, |name| roles.iter().any(|r| r.name == name));
    if let Some(e) = parsed.file_error {
        anyhow::bail!("{}: {e}; nothing imported", path.display());
    }
    let outcomes = apply(store, &parsed.rows, now, dry_run).await?;
    let mut summary = Summary { rejected: parsed.rejected.len(), ..Summary::default() };
    // One report line per row, in file order; rejected rows go to standard error.
    let mut report: Vec<(usize, bool, String)> = Vec::with_capacity(parsed.rows.len() + parsed.rejected.len());
    for r in &parsed.rejected {
        let what = match &r.username {
            Some(u) => format!("rejected {u:?}: {}", r.reason),
            None => format!("rejected: {}", r.reason),
        };
        report.push((r.line, true, what));
    }
    for (row, outcome) in parsed.rows.iter().zip(&outcomes) {
        let (name, scheme) = (&row.username, row.scheme);
        let what = match outcome {
            Outcome::Imported => {
                summary.imported += 1;
                format!("imported {name:?} ({scheme})")
            }
            Outcome::WouldImport => {
                summary.imported += 1;
                format!("would import {name:?} ({scheme})")
            }
            Outcome::SkippedExists => {
                summary.skipped += 1;
                format!("skipped {name:?}: exists")
            }
        };
        report.push((row.line, false, what));
    }
    report.sort_by_key(|(line, _, _)| *line);
    for (line, rejected, what) in report {
        if rejected {
            eprintln!("line {line}: {what}");
        } else {
            println!("line {line}: {what}");
        }
    }
    println!(
        "{}{} imported, {} skipped (exist), {} rejected",
        if dry_run { "dry run, nothing written: " } else { "" },
        summary.imported,
        summary.skipped,
        summary.rejected
    );
    if summary.rejected > 0 {
        anyhow::bail!(
            "{} row(s) rejected (see above); {}",
            summary.rejected,
            if dry_run { "fix them before importing" } else { "the valid rows were imported" }
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCRYPT: &str = "$2b$04$LO9KprZu6dY41RCcs4y3BOX9te.FTiwKN0emjC7Pl98uAFwohS07C";
    const DJANGO: &str = "pbkdf2_sha256$1000$doX6kI86MwiGtkEe2hsnx9$uzWvzDXL72UE9YgWvSH+F+Ha5j6j6jn4Tax4n6b6GmA=";

    fn roles(name: &str) -> bool {
        ["user", "admin", "editor"].contains(&name)
    }

    fn reasons(p: &Parsed) -> Vec<(usize, String)> {
        p.rejected.iter().map(|r| (r.line, r.reason.clone())).collect()
    }

    #[test]
    fn jsonl_rows_are_validated_with_line_numbers() {
        let file = format!(
            r#"{{"username": "alice", "email": "alice@example.com", "password_hash": "{BCRYPT}", "roles": ["admin", "user", "admin"]}}

{{"username": "bob", "hashed_password": "{DJANGO}", "full_name": "Bob", "disabled": true}}
{{"username": "ALICE", "password_hash": "{DJANGO}"}}
{{"username": "carol", "password_hash": "$2b$31$LO9KprZu6dY41RCcs4y3BOX9te.FTiwKN0emjC7Pl98uAFwohS07C"}}
{{"username": "dan", "password_hash": "{BCRYPT}", "roles": ["ops"]}}
{{"username": "erin", "password_hash": "{BCRYPT}", "email": "not-an-email"}}
{{"username": " frank", "password_hash": "{BCRYPT}"}}
{{"username": "gina", "password": "plain text"}}
not json
["an", "array"]
{{"username": "hal", "password_hash": "{BCRYPT}", "roles": "user"}}
{{"username": "ivy", "password_hash": "{BCRYPT}", "roles": []}}
"#
        );
        let p = parse(&file, Format::Jsonl, roles);
        assert!(p.file_error.is_none());
        let ok: Vec<_> = p.rows.iter().map(|r| (r.line, r.username.as_str(), r.scheme)).collect();
        assert_eq!(
            ok,
            [(1, "alice", "bcrypt"), (3, "bob", "django-pbkdf2-sha256"), (13, "ivy", "bcrypt")],
            "{:?}",
            p.rejected
        );
        assert_eq!(p.rows[0].roles, ["admin", "user"], "de-duplicated, in order");
        assert_eq!(p.rows[0].email.as_deref(), Some("alice@example.com"));
        assert_eq!(p.rows[1].roles, ["user"], "default role");
        assert!(p.rows[1].disabled);
        assert!(p.rows[2].roles.is_empty(), "an explicit empty list means no roles");
        let r = reasons(&p);
        let lines: Vec<usize> = r.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [4, 5, 6, 7, 8, 9, 10, 11, 12], "{r:?}");
        assert!(r[0].1.contains("line 1"), "{r:?}");
        assert!(r[1].1.starts_with("password_hash: bcrypt cost 31"), "{r:?}");
        assert_eq!(r[2].1, r#"roles: unknown role "ops""#);
        assert!(r[3].1.starts_with("email: "));
        assert!(r[4].1.starts_with("username: "));
        assert_eq!(r[5].1, "password_hash: missing");
        assert!(r[6].1.starts_with("not valid JSON"));
        assert_eq!(r[7].1, "not a JSON object");
        assert!(r[8].1.starts_with("roles: "));
        assert_eq!(p.rejected[1].username.as_deref(), Some("carol"));
        assert_eq!(p.rejected[6].username, None);
    }

    #[test]
    fn csv_with_quotes_roles_and_a_header_in_any_order() {
        let file = format!(
            "\u{feff}Email,Username,password_hash,roles,disabled\r\n\
             alice@example.com,alice,{BCRYPT},admin;user,\r\n\
             ,\"bob, the second\",\"{DJANGO}\",\"user editor\",yes\r\n\
             \r\n\
             ,\"multi\nline\",{BCRYPT},,\n\
             ,carol,{BCRYPT},ops,\n\
             ,dan,{BCRYPT}\n\
             ,\"e\"\"d\",{BCRYPT},,\n\
             ,fay\"x,{BCRYPT},,\n"
        );
        let p = parse(&file, Format::Csv, roles);
        assert!(p.file_error.is_none(), "{:?}", p.file_error);
        let ok: Vec<_> = p.rows.iter().map(|r| (r.line, r.username.as_str())).collect();
        assert_eq!(ok, [(2, "alice"), (3, "bob, the second"), (9, "e\"d")], "{:?}", p.rejected);
        assert_eq!(p.rows[0].roles, ["admin", "user"]);
        assert_eq!(p.rows[0].email.as_deref(), Some("alice@example.com"));
        assert_eq!(p.rows[1].roles, ["user", "editor"]);
        assert!(p.rows[1].disabled);
        assert_eq!(p.rows[1].email, None);
        assert_eq!(p.rows[2].roles, ["user"]);
        let r = reasons(&p);
        assert_eq!(r.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [5, 7, 8, 10], "{r:?}");
        assert!(r[0].1.contains("control"), "{r:?}");
        assert!(r[1].1.contains("unknown role"));
        assert!(r[2].1.contains("fields"));
        assert!(r[3].1.contains("quote"));
    }

    #[test]
    fn csv_without_the_required_columns_is_a_file_error() {
        let p = parse("name,hash\nalice,x\n", Format::Csv, roles);
        assert!(p.file_error.unwrap().contains("username"));
        assert!(parse("", Format::Csv, roles).file_error.is_some());
        assert!(parse("username,password_hash\n\"open", Format::Csv, roles).rejected[0].reason.contains("not closed"));
    }

    #[test]
    fn format_follows_the_file_extension() {
        assert_eq!(Format::from_path("users.CSV".as_ref()), Format::Csv);
        assert_eq!(Format::from_path("users.jsonl".as_ref()), Format::Jsonl);
        assert_eq!(Format::from_path("users".as_ref()), Format::Jsonl);
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let p = parse(&format!(r#"{{"username": "a", "password_hash": "{BCRYPT}"}}"#), Format::Jsonl, roles);
        assert!(!format!("{:?}", p.rows).contains("LO9K"));
    }
}
