//! Builds the programs to sBPF (`tools/sbf/build`) for this source tree, so the harness and the
//! local node run what a cluster runs, and tells the crate where they are
//! (`CHAINFERENCE_SBF_DIR`). The build caches its toolchain and outputs: a warm run takes
//! seconds. With `CHAINFERENCE_SBF_DIR` set, the shared objects in that folder are used instead
//! (an `anchor build` of the same sources, say), and nothing is built.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CHAINFERENCE_SBF_DIR");
    if let Ok(dir) = env::var("CHAINFERENCE_SBF_DIR") {
        println!("cargo:rustc-env=CHAINFERENCE_SBF_DIR={dir}");
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let repo = manifest.join("../..");
    // What the shared objects are built from: the program (and the IDLs of the programs it
    // calls), the hashing core it shares with the client, the lock file, and the build itself.
    for input in [
        "programs/chainference/src",
        "programs/chainference/idls",
        "programs/chainference/Cargo.toml",
        "prover/src",
        "prover/Cargo.toml",
        "Cargo.lock",
        "tools/sbf",
    ] {
        println!("cargo:rerun-if-changed={}", repo.join(input).display());
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("sbf");
    let mut build = Command::new("bash");
    build
        .arg(repo.join("tools/sbf/build"))
        .env("CHAINFERENCE_SBF_OUT", &out);
    // The build runs its own cargo with its own compiler: nothing of this build may leak in.
    for (name, _) in env::vars() {
        let ours = name.starts_with("CARGO_")
            && !name.starts_with("CARGO_HOME")
            && !name.starts_with("CARGO_NET_")
            && !name.starts_with("CARGO_HTTP_")
            && !name.starts_with("CARGO_REGISTR");
        let compiler = matches!(
            name.as_str(),
            "RUSTC"
                | "RUSTC_WRAPPER"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "RUSTC_LINKER"
                | "RUSTDOC"
                | "RUSTFLAGS"
                | "CLIPPY_ARGS"
                | "TARGET"
                | "HOST"
                | "OUT_DIR"
                | "OPT_LEVEL"
                | "PROFILE"
                | "DEBUG"
                | "NUM_JOBS"
                | "MAKEFLAGS"
                | "MFLAGS"
        );
        if ours || compiler {
            build.env_remove(&name);
        }
    }
    let status = build
        .status()
        .unwrap_or_else(|error| panic!("cannot run tools/sbf/build with bash: {error}"));
    assert!(
        status.success(),
        "tools/sbf/build failed ({status}): its output above says why. To use shared objects built \
         elsewhere (`anchor build`), set CHAINFERENCE_SBF_DIR to their folder."
    );
    println!("cargo:rustc-env=CHAINFERENCE_SBF_DIR={}", out.display());
}
