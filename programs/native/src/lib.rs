//! The programs as a cluster runs them, for local runtimes: Chainference and
//! spl-account-compression built to sBPF from source, Light Protocol's programs, trees and
//! spl-noop from Light's package, and a LiteSVM harness with all of them loaded.
//!
//! - [`sbf`] holds the sBPF builds of this tree (`build.rs` runs `tools/sbf/build`).
//! - [`light`] brings Light Protocol's system program, account-compression, v1 state trees and
//!   spl-noop (SBF builds from its npm package); receipts are written through Light's.
//! - [`svm`] is a LiteSVM harness with all of them loaded: the program tests' runtime.

pub mod light;
pub mod sbf;
pub mod svm;

/// The keypair of [`chainference::constants::ADMIN`] on local deployments (a test key:
/// `fixtures/keys/admin.json`).
pub fn local_admin() -> solana_keypair::Keypair {
    const ADMIN_KEYPAIR: &str = include_str!("../../../fixtures/keys/admin.json");
    let bytes: Vec<u8> = ADMIN_KEYPAIR
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|byte| {
            byte.trim()
                .parse()
                .expect("fixtures/keys/admin.json holds bytes")
        })
        .collect();
    solana_keypair::Keypair::try_from(bytes.as_slice())
        .expect("fixtures/keys/admin.json is a keypair")
}
