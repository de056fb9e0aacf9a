//! `kraftwerk`: check the models, browse them, list the bug catalogue.

fn main() {
    // Like any Unix filter, end quietly when the reader goes away
    // (`kraftwerk check ... | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any
    // thread starts; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(kraftwerk_model::cli::main(std::env::args_os()));
}
