//! The `tether` binary: parses the command line and hands over to [`tether::cli`].
//! It must never hold logic of its own; everything testable lives in the library.

fn main() -> std::process::ExitCode {
    tether::cli::main()
}
