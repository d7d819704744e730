//! The `firn` command line. Everything lives in the `firn_tools` library;
//! see `firn --help`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(firn_tools::main_with_args(std::env::args_os()))
}
