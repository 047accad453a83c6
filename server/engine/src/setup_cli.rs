//! `server token` and `server cert`: the set-up commands of a production server. Each prints
//! its result on stdout (the token; the certificate's paths and fingerprint) and errors on
//! stderr.

use std::process::ExitCode;

use crate::clock::unix_now;
use crate::config::{CertArgs, TokenArgs};
use crate::net::front::auth::{Claims, Secret, valid_name};
use crate::net::front::tls;

/// Mints a token and prints it.
pub fn token(args: &TokenArgs) -> ExitCode {
    if !valid_name(&args.name) {
        eprintln!("--name must be 1 to 24 bytes with no control characters");
        return ExitCode::FAILURE;
    }
    let secret = match Secret::from_file(&args.auth_secret_file) {
        Ok(secret) => secret,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let now = unix_now();
    let claims =
        Claims { sub: args.name.clone(), role: args.role, iat: now, exp: now.saturating_add(args.ttl.as_secs()) };
    println!("{}", secret.mint(&claims));
    ExitCode::SUCCESS
}

/// Writes a self-signed certificate and key, and prints where and its fingerprint.
pub fn cert(args: &CertArgs) -> ExitCode {
    match tls::write_generated(&args.out, &args.tls_name) {
        Ok((cert, key, fingerprint)) => {
            println!("certificate: {}", cert.display());
            println!("key:         {}", key.display());
            println!("sha256 fingerprint: {fingerprint}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
