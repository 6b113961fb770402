/// mimalloc: the engine's threads hand JSON to each other, which glibc's
/// per-thread arenas serve poorly (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A closed pipe (`keystep runs list | head`) is a write error the CLI
    // handles (Rust ignores SIGPIPE), so a run being followed still ends
    // cleanly instead of the process dying mid-way.
    std::process::exit(keystep::cli::main());
}
