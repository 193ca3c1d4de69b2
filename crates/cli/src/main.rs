//! `openfn`: run OpenFn jobs and workflows locally. The same binary is the engine's child
//! process (hidden flag), so runs get the worker's isolation and limits.

mod args;
mod commands;
mod diagnostic;
mod execute;
mod job;
mod load;
mod logger;
mod out;
mod progress;
mod report;
mod usage;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, LogArgs, RepoCommand};
use crate::logger::{Level, Levels, Logger};

fn main() -> ExitCode {
    openfn_engine::child::maybe_run_child();
    let argv = args::normalize(std::env::args_os());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            out::error_line(&chain.join(": "));
            // bad arguments exit 2, as clap's own usage errors; failures 1
            ExitCode::from(if usage::is_usage(&e) { 2 } else { 1 })
        }
    }
}

fn logger_for(log: &LogArgs, base: Level) -> anyhow::Result<Logger> {
    let json = log.log_json.unwrap_or(false);
    out::set_json(json);
    let levels =
        Levels::parse(&log.log, base).map_err(|e| usage::error(format!("{e} (in --log)")))?;
    Ok(Logger::new(levels, json))
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Execute(args) => {
            let logger = logger_for(&args.log, Level::Default)?;
            execute::execute(args, &logger)
        }
        Command::Compile(args) => {
            let logger = logger_for(&args.log, Level::Default)?;
            commands::compile(args, &logger)
        }
        Command::Test(args) => {
            let logger = logger_for(&args.log, Level::Info)?;
            commands::test(args, &logger)
        }
        Command::Install(args) => {
            let logger = logger_for(&args.repo.log, Level::Default)?;
            commands::install(args, &logger)
        }
        Command::Repo(RepoCommand::Install(args)) => {
            let logger = logger_for(&args.repo.log, Level::Default)?;
            commands::install(args, &logger)
        }
        Command::Repo(RepoCommand::List(args)) => {
            let logger = logger_for(&args.log, Level::Default)?;
            commands::list(args, &logger)
        }
        Command::Repo(RepoCommand::Clean(args)) => {
            let logger = logger_for(&args.repo.log, Level::Default)?;
            commands::clean(args, &logger)
        }
        Command::Version(log) => {
            let logger = logger_for(&log, Level::Info)?;
            commands::version(&logger)
        }
    }
}
