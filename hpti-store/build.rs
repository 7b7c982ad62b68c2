//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the
//! `migrations/` folders at compile time but cannot tell cargo to watch them.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
