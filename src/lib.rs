//! cb-step: the steps of a CodeBuild container build, as one static binary.
//!
//! Data flow: `cli` → `config` → `commands::*`, which wire the stages:
//! `registry` (ECR tokens, names, digests) → `docker_config` (credentials for docker),
//! `record` (what was built) → `manifest` (what to deploy, rendered) → `atomic` (written).

pub mod atomic;
pub mod buildspec;
pub mod cli;
pub mod commands;
pub mod config;
pub mod docker_config;
pub mod env_vars;
pub mod error;
pub mod exit_code;
pub mod image;
pub mod logging;
pub mod manifest;
pub mod process;
pub mod record;
pub mod registry;
pub mod report;
pub mod runner;

use std::ffi::OsString;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::Error;

/// Runs cb-step with these arguments and returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::SUCCESS
            };
        }
    };
    report::set_quiet(cli.quiet > 0);
    logging::init(
        i8::try_from(cli.verbose).unwrap_or(i8::MAX) - i8::try_from(cli.quiet).unwrap_or(i8::MAX),
    );
    match execute(cli.command) {
        Ok(()) => exit_code::SUCCESS,
        Err(e) => {
            eprint!("{}", e.render());
            e.exit_code()
        }
    }
}

fn execute(command: Command) -> Result<(), Error> {
    match command {
        Command::BuildPush(args) => {
            commands::build_push::execute(config::BuildPushConfig::from_args(*args)?)
        }
        Command::EcrLogin(args) => {
            commands::ecr_login::execute(config::EcrLoginConfig::from_args(args))
        }
        Command::Run(args) => commands::run::execute(config::RunConfig::from_args(args)?),
        Command::Lint(args) => commands::lint::execute(&args.file),
        Command::EmitImagedefs(args) => {
            commands::emit_imagedefs::execute(config::EmitConfig::from_args(*args)?)
        }
    }
}
