fn main() {
    std::process::exit(keystep::cli::main());
}
