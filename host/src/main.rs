fn main() {
    // Die quietly on a closed pipe (`keystep runs list | head`), like other
    // command-line tools, instead of panicking on the next print.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(keystep::cli::main());
}
