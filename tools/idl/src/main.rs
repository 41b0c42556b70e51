//! Writes the program's IDL to `idl/chainference.json`, or with `--check` fails when the
//! committed file is stale.
//!
//! Usage: `cargo run -p chainference-idl [-- --check]`

use anchor_lang_idl::build::IdlBuilder;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

fn main() -> Result<()> {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => bail!("unknown argument {other:?}; usage: chainference-idl [--check]"),
    };
    // `cargo run` gives the package's folder at run time (a compile-time path would point into
    // whichever checkout last built the shared target directory).
    let package = std::env::var("CARGO_MANIFEST_DIR")
        .context("run it with `cargo run -p chainference-idl`, which sets CARGO_MANIFEST_DIR")?;
    let root = PathBuf::from(package).join("../..");
    let program = root.join("programs/chainference");
    let output = root.join("idl/chainference.json");

    // `cargo run` sets RUSTUP_TOOLCHAIN, which makes the builder pass a literal `+{toolchain}`
    // to cargo and try to install a toolchain from the network.
    // SAFETY: single-threaded, before any other thread exists.
    unsafe { std::env::remove_var("RUSTUP_TOOLCHAIN") };
    // The builder sets `RUSTFLAGS=-A warnings`, which would rebuild every dependency apart;
    // an empty CARGO_ENCODED_RUSTFLAGS takes precedence and keeps the shared artifacts.
    // SAFETY: as above.
    unsafe { std::env::set_var("CARGO_ENCODED_RUSTFLAGS", "") };

    let idl = IdlBuilder::new()
        .program_path(
            program
                .canonicalize()
                .context("programs/chainference exists")?,
        )
        .skip_lint(true)
        .cargo_args(vec!["--lib".into()])
        .build()
        .context("building the IDL (cargo test __anchor_private_print_idl --features idl-build)")?;
    let json = serde_json::to_string_pretty(&idl)? + "\n";

    if check {
        let committed = std::fs::read_to_string(&output)
            .with_context(|| format!("reading {}", output.display()))?;
        if committed != json {
            bail!(
                "idl/chainference.json is stale: run `cargo run -p chainference-idl` and commit it"
            );
        }
        println!("idl/chainference.json is up to date");
    } else {
        std::fs::write(&output, json).with_context(|| format!("writing {}", output.display()))?;
        println!("wrote {}", output.display());
    }
    Ok(())
}
