//! The public-key cryptography one SSH connection costs the server, measured alone: the
//! floor under `hpti bench ssh`'s "connections per server CPU-second".
//!
//! `cargo bench -p hpti-sensors --bench ssh_crypto` times, on one thread, the calls russh
//! makes for a `curve25519-sha256` key exchange signed with an `ssh-ed25519` host key
//! (the generator's and OpenSSH's first choices): the ephemeral X25519 key and the shared
//! secret (`russh::kex::curve25519`), and the host-key signature through `ssh-key`'s
//! `Signer`, which rebuilds the ed25519 signing key on every call. It prints
//! microseconds per connection (best of 3 runs) and the connections per CPU-second the
//! cryptography alone would allow.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark panics on broken setup

use std::hint::black_box;
use std::time::Instant;

use curve25519_dalek::montgomery::MontgomeryPoint;
use russh::keys::PrivateKey;
use russh::keys::signature::Signer;
use russh::keys::ssh_key::Signature;
use russh::keys::ssh_key::private::Ed25519Keypair;

const ITERATIONS: u32 = 5_000;
const RUNS: usize = 3;

/// Best-of-`RUNS` microseconds per call of `op`.
fn best_micros(mut op: impl FnMut(u32)) -> f64 {
    (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            for i in 0..ITERATIONS {
                op(i);
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(ITERATIONS)
        })
        .fold(f64::INFINITY, f64::min)
}

/// 32 bytes that differ with `i` (the benchmark needs no randomness, only distinct inputs).
fn bytes(i: u32, salt: u8) -> [u8; 32] {
    let mut out = [salt; 32];
    out[..4].copy_from_slice(&i.to_le_bytes());
    out
}

fn main() {
    let client_public = MontgomeryPoint::mul_base_clamped(bytes(0, 9));
    let x25519 = best_micros(|i| {
        let server_secret = bytes(i, 1);
        let server_public = MontgomeryPoint::mul_base_clamped(server_secret);
        let shared = client_public.mul_clamped(server_secret);
        black_box((server_public, shared));
    });

    let host_key = PrivateKey::from(Ed25519Keypair::from_seed(&[3; 32]));
    let ed25519 = best_micros(|i| {
        let exchange_hash = bytes(i, 2);
        let signature: Signature = host_key.try_sign(&exchange_hash).expect("ed25519 signs");
        black_box(signature);
    });

    let total = x25519 + ed25519;
    println!("X25519 ephemeral key + shared secret: {x25519:.1} µs");
    println!("ed25519 host-key signature (ssh-key): {ed25519:.1} µs");
    println!(
        "public-key crypto per connection: {total:.1} µs, at most {:.0} connections per CPU-second",
        1e6 / total
    );
}
