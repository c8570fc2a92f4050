//! `parla-loadtest`: stub until the load-test issue; its core is `parla-testkit`'s caller.
fn main() {
    eprintln!("parla-loadtest: not built yet (see the load-test issue)");
    std::process::exit(2);
}
