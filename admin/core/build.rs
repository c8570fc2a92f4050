// `sqlx::migrate!` embeds migrations/{sqlite,postgres}/*.sql at compile
// time; rebuild this crate when they change.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
