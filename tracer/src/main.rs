use clap::Parser;

fn main() {
    let cli = tracer::cli::Cli::parse();
    match tracer::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // One line: the error and its causes.
            eprintln!("pkttrace: error: {e:#}");
            let usage = e.downcast_ref::<tracer::UsageError>().is_some();
            std::process::exit(if usage { 2 } else { 1 });
        }
    }
}
