fn main() {
    // A closed pipe (`keystep runs list | head`) is a write error the CLI
    // handles (Rust ignores SIGPIPE), so a run being followed still ends
    // cleanly instead of the process dying mid-way.
    std::process::exit(keystep::cli::main());
}
