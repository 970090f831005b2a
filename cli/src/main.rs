use std::{process::ExitCode, sync::Arc};

use chatlogger::{aws, config, store::DynamoStore};
use chatlogger_admin::{Cli, run};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = &cli.env_file
        && let Err(error) = dotenvy::from_path(path)
    {
        eprintln!("error: could not read {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    let table = match config::table_name() {
        Ok(table) => table,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let aws = match aws::Aws::load(aws::Budget::interactive()).await {
        Ok(aws) => aws,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), table));
    let stdin = std::io::stdin();
    match run(
        &cli,
        store.as_ref(),
        &mut stdin.lock(),
        &mut std::io::stdout(),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
