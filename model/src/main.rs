//! `kraftwerk`: check the models, browse them, list the bug catalogue.

fn main() {
    std::process::exit(kraftwerk_model::cli::main(std::env::args_os()));
}
