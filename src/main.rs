//! The `blissful-infra` binary: argument parsing only; the wiring is in
//! the library (`blissful_infra::launch`) where tests can reach it.

use blissful_infra::cli::args::Cli;
use clap::Parser;

fn main() {
    let started = std::time::Instant::now();
    let cli = Cli::parse();
    let code = blissful_infra::launch::main(cli, started);
    std::process::exit(code);
}
