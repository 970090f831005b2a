//! `chatlogger-admin`: the ops CLI. Creates orgs, users and API keys through
//! the same use cases (`chatlogger::accounts`) and store the API uses, so it
//! works against the local stack and real AWS alike (standard AWS
//! environment; `--env-file .env.local` for the local stack).

use std::{
    io::{BufRead, Write},
    path::PathBuf,
};

use chatlogger::{
    accounts::{self, AccountError},
    analytics::replay_parked,
    domain::{ApiKeyLabel, Email, OrgName, Password, Slug, UserRole, ValidationError},
    sdk_error::error_chain,
    store::{AggregatorStore, ApiKeyStore, OrgStore, StoreError, UserStore},
};
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "chatlogger-admin",
    version,
    about = "Manage chatlogger orgs, users and API keys"
)]
pub struct Cli {
    /// Load environment variables from this file first (e.g. .env.local).
    #[arg(long, global = true)]
    pub env_file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Dashboard users.
    #[command(subcommand)]
    User(UserCommand),
    /// Org API keys for chat plugins.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// The analytics aggregator's parked commits.
    #[command(subcommand)]
    Analytics(AnalyticsCommand),
}

#[derive(Debug, Subcommand)]
pub enum AnalyticsCommand {
    /// Commit the analytics changes the aggregator parked (after its
    /// retries failed), oldest first, and remove those that are done. Safe
    /// to run again: a change is never counted twice.
    Replay {
        /// At most this many parked commits.
        #[arg(long, default_value_t = 100)]
        limit: u16,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an org.
    Create {
        #[arg(long, value_parser = OrgName::parse)]
        name: OrgName,
        #[arg(long, value_parser = Slug::parse)]
        slug: Slug,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from stdin with --password-stdin,
    /// otherwise generated and printed once.
    Create {
        /// The org's slug.
        #[arg(long, value_parser = Slug::parse)]
        org: Slug,
        #[arg(long, value_parser = Email::parse)]
        email: Email,
        /// superadmin, admin, user or viewer.
        #[arg(long)]
        role: UserRole,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key; the key is printed once and only its hash is stored.
    Create {
        /// The org's slug.
        #[arg(long, value_parser = Slug::parse)]
        org: Slug,
        #[arg(long, value_parser = ApiKeyLabel::parse)]
        label: ApiKeyLabel,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("{0}")]
    InvalidInput(#[from] ValidationError),
    #[error("could not read stdin or write output: {0}")]
    Io(#[from] std::io::Error),
    #[error("{}", error_chain(.0))]
    Store(#[from] StoreError),
}

/// Runs one command. `stdin` and `out` are parameters so tests can drive it.
pub async fn run<S: OrgStore + UserStore + ApiKeyStore + AggregatorStore>(
    cli: &Cli,
    store: &S,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match &cli.command {
        Command::Org(OrgCommand::Create { name, slug }) => {
            let org = accounts::create_org(store, slug.clone(), name.clone()).await?;
            if cli.json {
                writeln!(out, "{}", json!({ "org": org }))?;
            } else {
                writeln!(
                    out,
                    "Created org '{}' ({}), id {}",
                    org.slug, org.name, org.id
                )?;
            }
        }
        Command::User(UserCommand::Create {
            org,
            email,
            role,
            password_stdin,
        }) => {
            let org = accounts::find_org(store, org).await?;
            let (password, generated) = if *password_stdin {
                let mut line = String::new();
                stdin.read_line(&mut line)?;
                (Password::parse(line.trim_end_matches(['\r', '\n']))?, false)
            } else {
                (Password::generate(), true)
            };
            let user =
                accounts::create_user(store, &org, email.clone(), *role, password.clone()).await?;
            let shown = generated.then(|| password.expose().to_owned());
            if cli.json {
                let user = json!({ "id": user.id, "org_id": org.id, "email": user.email, "role": user.role });
                writeln!(out, "{}", json!({ "user": user, "password": shown }))?;
            } else {
                writeln!(
                    out,
                    "Created {} user {} in org '{}', id {}",
                    user.role, user.email, org.slug, user.id
                )?;
                if let Some(password) = shown {
                    writeln!(out, "Generated password (shown once): {password}")?;
                }
            }
        }
        Command::Apikey(ApiKeyCommand::Create { org, label }) => {
            let org = accounts::find_org(store, org).await?;
            let (key, secret) = accounts::create_api_key(store, &org, label.clone()).await?;
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    json!({ "api_key": key, "org_id": org.id, "key": secret.expose() })
                )?;
            } else {
                writeln!(
                    out,
                    "Created API key '{}' for org '{}', id {}",
                    key.label, org.slug, key.id
                )?;
                writeln!(out, "Key (shown once; store it now): {}", secret.expose())?;
            }
        }
        Command::Analytics(AnalyticsCommand::Replay { limit }) => {
            let report = replay_parked(store, *limit).await?;
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    json!({
                        "replayed": report.replayed,
                        "already_committed": report.already_committed,
                        "still_failing": report.still_failing,
                    })
                )?;
            } else {
                writeln!(
                    out,
                    "Replayed {} parked analytics commit(s); {} had been written already; {} still failing",
                    report.replayed,
                    report.already_committed,
                    report.still_failing.len()
                )?;
                for (commit, error) in &report.still_failing {
                    writeln!(out, "  {commit}: {error}")?;
                }
            }
        }
    }
    Ok(())
}
