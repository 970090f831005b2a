//! `chatlogger-admin`: the ops CLI. Creates orgs, users and API keys, and
//! in an emergency signs a user out everywhere, disables a user or revokes
//! an API key, through the same use cases (`chatlogger::accounts`) and store
//! the API uses, so it works against the local stack and real AWS alike
//! (standard AWS environment; `--env-file .env.local` for the local stack).

use std::{
    io::{BufRead, Write},
    path::PathBuf,
};

use chatlogger::{
    accounts::{self, AccountError},
    analytics::replay_parked,
    auth::sessions,
    domain::{ApiKeyId, ApiKeyLabel, Email, OrgName, Password, Slug, UserRole, ValidationError},
    sdk_error::error_chain,
    store::{AggregatorStore, ApiKeyStore, OrgStore, StoreError, UserChanges, UserStore},
};
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "chatlogger-admin",
    version,
    about = "Manage chatlogger orgs, users and API keys (and, in an emergency, sign users out, disable them, revoke keys)"
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
    /// Sign a user out everywhere: every session ends for good (they may
    /// sign in again).
    RevokeSessions {
        /// The org's slug (an address may be a user of several orgs).
        #[arg(long, value_parser = Slug::parse)]
        org: Slug,
        #[arg(long, value_parser = Email::parse)]
        email: Email,
    },
    /// Disable a user: every session ends for good and sign-in is refused.
    Disable {
        /// The org's slug.
        #[arg(long, value_parser = Slug::parse)]
        org: Slug,
        #[arg(long, value_parser = Email::parse)]
        email: Email,
    },
    /// Let a disabled user sign in again (their old sessions stay ended).
    Enable {
        /// The org's slug.
        #[arg(long, value_parser = Slug::parse)]
        org: Slug,
        #[arg(long, value_parser = Email::parse)]
        email: Email,
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
    /// Revoke an API key: ingest refuses it within the key cache bound (5 s).
    Revoke {
        /// The org's slug.
        #[arg(long, value_parser = Slug::parse)]
        org: Slug,
        /// The key's id (as `GET /orgs/me/apikeys` lists it).
        #[arg(long, value_parser = parse_key_id)]
        id: ApiKeyId,
    },
}

fn parse_key_id(raw: &str) -> Result<ApiKeyId, String> {
    ApiKeyId::parse(raw).map_err(|_| "the key id must be a ULID".to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("{0}")]
    InvalidInput(#[from] ValidationError),
    #[error("could not read stdin or write output: {0}")]
    Io(#[from] std::io::Error),
    #[error("org '{org}' has no user with the email address '{email}'")]
    UserNotFound { org: Slug, email: Email },
    #[error("org '{org}' has no API key {id}")]
    ApiKeyNotFound { org: Slug, id: ApiKeyId },
    #[error("{}", error_chain(.0))]
    Store(#[from] StoreError),
}

/// Applies an emergency change to the user of `org` with `email`; says
/// what it did.
async fn change_user<S: OrgStore + UserStore + ?Sized>(
    store: &S,
    (org, email): (&Slug, &Email),
    changes: UserChanges,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let not_found = || CliError::UserNotFound {
        org: org.clone(),
        email: email.clone(),
    };
    let org = accounts::find_org(store, org).await?.id;
    let user = store
        .user_by_email(org, email)
        .await?
        .ok_or_else(not_found)?;
    let updated = sessions::change_user(store, org, &user, changes)
        .await?
        .ok_or_else(not_found)?;
    let sessions_ended = updated.session_epoch != user.session_epoch;
    if json {
        let user = json!({ "id": updated.id, "org_id": org, "email": updated.email, "disabled": updated.disabled });
        writeln!(
            out,
            "{}",
            json!({ "user": user, "sessions_ended": sessions_ended })
        )?;
    } else {
        writeln!(
            out,
            "User {} ({}): {}{}",
            updated.email,
            updated.id,
            if updated.disabled {
                "disabled"
            } else {
                "enabled"
            },
            if sessions_ended {
                "; every session ended"
            } else {
                ""
            }
        )?;
    }
    Ok(())
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
        Command::User(UserCommand::RevokeSessions { org, email }) => {
            let changes = UserChanges {
                end_sessions: true,
                ..UserChanges::default()
            };
            change_user(store, (org, email), changes, cli.json, out).await?;
        }
        Command::User(UserCommand::Disable { org, email }) => {
            let changes = UserChanges {
                disabled: Some(true),
                ..UserChanges::default()
            };
            change_user(store, (org, email), changes, cli.json, out).await?;
        }
        Command::User(UserCommand::Enable { org, email }) => {
            let changes = UserChanges {
                disabled: Some(false),
                ..UserChanges::default()
            };
            change_user(store, (org, email), changes, cli.json, out).await?;
        }
        Command::Apikey(ApiKeyCommand::Revoke { org, id }) => {
            let found = accounts::find_org(store, org).await?;
            let key = store.revoke_api_key(found.id, *id).await?.ok_or_else(|| {
                CliError::ApiKeyNotFound {
                    org: org.clone(),
                    id: *id,
                }
            })?;
            if cli.json {
                writeln!(out, "{}", json!({ "api_key": key, "org_id": found.id }))?;
            } else {
                writeln!(
                    out,
                    "Revoked API key '{}' ({}) of org '{}'; ingest refuses it within 5 s",
                    key.label, key.id, org
                )?;
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
                        "already_replayed": report.already_replayed,
                        "still_failing": report.still_failing,
                    })
                )?;
            } else {
                writeln!(
                    out,
                    "Replayed {} parked analytics commit(s); {} had been replayed already; {} still failing",
                    report.replayed,
                    report.already_replayed,
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    #[test]
    fn the_cli_refuses_invalid_arguments_before_doing_anything() {
        for args in [
            vec!["org", "create", "--name", "Acme", "--slug", "Bad Slug"],
            vec!["org", "create", "--name", "", "--slug", "acme"],
            vec![
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "not-an-email",
                "--role",
                "admin",
            ],
            vec![
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "a@example.com",
                "--role",
                "owner",
            ],
            vec!["apikey", "create", "--org", "acme"],
            vec!["apikey", "revoke", "--org", "acme", "--id", "not-a-ulid"],
            vec![
                "user",
                "disable",
                "--org",
                "acme",
                "--email",
                "not-an-email",
            ],
            vec!["user", "disable", "--email", "ada@example.com"],
            vec!["user", "revoke-sessions", "--org", "acme"],
        ] {
            let parsed = Cli::try_parse_from(
                std::iter::once("chatlogger-admin").chain(args.iter().copied()),
            );
            assert!(parsed.is_err(), "{args:?}");
        }
    }
}
