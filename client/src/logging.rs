//! The one logging setup of Chainference's binaries (the CLI and the provider daemon): `tracing`
//! events to stderr, filtered by `RUST_LOG` or else by the binary's default, each line with the
//! fields of its spans (a provider's job span carries its request). Records of crates that log
//! through `log` are left to whatever logger the binary installs (the local node has its own).

use tracing_subscriber::EnvFilter;

/// Sends this process's `tracing` events to stderr, filtered by `RUST_LOG` or, when that is
/// unset or unreadable, by `default` (directives such as `warn` or `info,hyper=warn`). Does
/// nothing if a subscriber is already set.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .finish();
    // Already set (by an embedding program or a test): theirs stays.
    let _ = tracing::subscriber::set_global_default(subscriber);
}
