//! Hosts Chainference, spl-account-compression and spl-noop as native builtins of a real
//! Solana runtime, since no SBF toolchain can be had on our build machines, beside Light
//! Protocol's own SBF programs.
//!
//! - [`stubs`] routes the syscall stubs that each generation of `solana-program` calls through
//!   (CPI, sysvars, logs) to `solana-program-test`'s implementation, which executes them
//!   against the runtime's invoke context for real.
//! - [`builtins`] adapts each program's entrypoint to the runtime's builtin form.
//! - [`light`] brings Light Protocol's system program, account-compression and v1 state trees
//!   (SBF builds from its npm package), which receipts are written through.
//! - [`svm`] is a LiteSVM harness with all of them loaded: the program tests' runtime.

pub mod builtins;
pub mod light;
pub mod stubs;
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
