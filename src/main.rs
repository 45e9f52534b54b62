fn main() {
    std::process::exit(pxdeploy::main(std::env::args_os()));
}
