fn main() {
    std::process::exit(cb_step::run(std::env::args_os()));
}
