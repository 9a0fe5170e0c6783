//! `imghash`: checksums of disk images from the command line, and the gRPC server.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use imghash::cli;

/// Fast checksums of virtual-machine disk images.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print checksums of files (or stdin), like md5sum/sha256sum/xxhsum/b3sum.
    Sum(cli::sum::SumArgs),
    /// Verify files against checksum lists written by md5sum, sha*sum, b3sum, xxhsum or
    /// `imghash sum --tag`.
    Check(cli::check::CheckArgs),
    /// Print the byte ranges where two images differ, from manifests (`sum --manifest`) or
    /// the files themselves.
    Diff(cli::diff::DiffArgs),
    /// Measure each algorithm on this machine, in memory and from a file, and show the read
    /// strategy and digest core the engine chose.
    Speed(cli::speed::SpeedArgs),
    /// Serve CalculateImageHash (ZStack's API) over gRPC, with an embedded inventory.
    Serve(Box<cli::serve::ServeArgs>),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Sum(sum) => cli::sum::run(sum),
        Command::Check(check) => cli::check::run(check),
        Command::Diff(diff) => cli::diff::run(diff),
        Command::Speed(speed) => cli::speed::run(speed),
        Command::Serve(serve) => {
            init_tracing(serve.log_format);
            cli::serve::command(*serve).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("imghash: {err:#}");
            ExitCode::from(cli::exit_status(&err))
        }
    }
}

/// Logs of the server on stderr; `RUST_LOG` filters (default `info`). Colours only for a
/// person at a terminal: a redirected log (a file, journald, a pipe) gets plain text, and
/// `NO_COLOR` turns them off everywhere.
fn init_tracing(format: cli::serve::LogFormat) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        cli::serve::LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(colour).init();
        }
        cli::serve::LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}
