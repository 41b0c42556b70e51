//! Light Protocol for local runtimes: its system program and account-compression (their SBF
//! builds), its pre-initialised v1 state trees, and the official SBF build of spl-noop that it
//! ships (what spl-account-compression logs through), from the npm package
//! `@lightprotocol/zk-compression-cli`. The package is fetched once from the npm registry into
//! the cache (`$CHAINFERENCE_CACHE`, else `~/.cache/chainference`), its published SHA-512
//! checked, and never committed.

use anchor_lang::prelude::Pubkey;
use base64::Engine as _;
use chainference::compression::NOOP_PROGRAM_ID;
use chainference::receipt::{LIGHT_COMPRESSION_PROGRAM, LIGHT_SYSTEM_PROGRAM};
use sha2::{Digest, Sha512};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

/// The package version whose programs and accounts are loaded.
pub const PACKAGE_VERSION: &str = "0.28.3";
/// Where the npm registry serves it.
const TARBALL: &str =
    "https://registry.npmjs.org/@lightprotocol/zk-compression-cli/-/zk-compression-cli-0.28.3.tgz";
/// Its integrity as the registry publishes it (`npm view … dist.integrity`).
const INTEGRITY: &str =
    "sha512-EIoS0N0fLYMEy0Ob2rSfy0GRTddXM/EZ+RcPKpeav+bY1GVVWlfnbTPqvW6q1zTnm77is3QRPx6+qEQTJqNHbg==";

/// The programs loaded: id and file under the package's `bin/`.
const PROGRAMS: [(Pubkey, &str); 3] = [
    (LIGHT_SYSTEM_PROGRAM, "light_system_program_pinocchio.so"),
    (LIGHT_COMPRESSION_PROGRAM, "account_compression.so"),
    (NOOP_PROGRAM_ID, "spl_noop.so"),
];

/// The accounts loaded, files under the package's `accounts/`: the registration of Light's
/// system program and the two v1 state trees with their nullifier queues.
const ACCOUNTS: [&str; 5] = [
    "registered_program_pda_35hkDgaAKwMCaxRz2ocSZ6NaUrtKkyNqU6c4RV3tYJRh.json",
    "merkle_tree_pubkey_smt1NamzXdq4AMqS2fS2F1i5KTYPZRhoHgWx38d8WsT.json",
    "nullifier_queue_pubkey_nfq1NvQDJ2GEgnS8zt9prAe8rjjpAW1zFkrvZoBR148.json",
    "merkle_tree_pubkey_smt2rJAFdyJJupwMKAqTNAJwvjhmiZ4JYGZmbVRw1Ho.json",
    "nullifier_queue_pubkey_nfq2hgS7NYemXsFaFUCe3EMXSDSfnZnAe27jC6aPP1X.json",
];

/// Why Light's package could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LightPackageError {
    /// The registry could not be reached or refused.
    #[error("cannot download Light's programs from {TARBALL} ({0}): the local chain needs them once; check access to registry.npmjs.org, or unpack that tarball's package/bin and package/accounts into {1}")]
    Download(String, PathBuf),
    /// The download is not what the registry published.
    #[error("the downloaded Light package has SHA-512 {0}, not the published one: refusing it")]
    Integrity(String),
    /// The tarball or the cache could not be read or written.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// A file the local chain needs is not in the package.
    #[error("Light's package {PACKAGE_VERSION} holds no {0}")]
    Missing(String),
    /// An account file is not the Solana CLI's JSON form.
    #[error("{0} is not an account in the Solana CLI's JSON form")]
    MalformedAccount(String),
}

/// One pre-initialised account of the package.
#[derive(Clone, Debug)]
pub struct PackagedAccount {
    /// Its address.
    pub address: Pubkey,
    /// Its lamports.
    pub lamports: u64,
    /// Its owner.
    pub owner: Pubkey,
    /// Its data.
    pub data: Vec<u8>,
}

/// One of Light's programs.
#[derive(Debug)]
pub struct PackagedProgram {
    /// Its program id.
    pub id: Pubkey,
    /// Its SBF ELF file in the cache.
    pub path: PathBuf,
    /// The ELF.
    pub elf: Vec<u8>,
}

/// Light's programs and accounts, read once per process.
#[derive(Debug)]
pub struct LightPackage {
    /// The programs.
    pub programs: Vec<PackagedProgram>,
    /// The accounts.
    pub accounts: Vec<PackagedAccount>,
}

/// The package, fetched into the cache on first use and read once per process.
pub fn package() -> Result<&'static LightPackage, &'static LightPackageError> {
    static PACKAGE: OnceLock<Result<LightPackage, LightPackageError>> = OnceLock::new();
    PACKAGE.get_or_init(load).as_ref()
}

/// The cache folder of this package version.
fn folder() -> PathBuf {
    chainference_client_core::wallet::cache_dir().join(format!("light-{PACKAGE_VERSION}"))
}

fn load() -> Result<LightPackage, LightPackageError> {
    let folder = folder();
    // A cache from before a file joined the list lacks it: it is replaced.
    let whole = PROGRAMS.iter().all(|(_, file)| folder.join(file).exists());
    if folder.join("complete").exists() && !whole {
        let _ = std::fs::remove_dir_all(&folder);
    }
    if !folder.join("complete").exists() {
        fetch(&folder)?;
    }
    let read = |name: &str| {
        std::fs::read(folder.join(name)).map_err(|error| {
            LightPackageError::Io(format!("reading {name} in {}", folder.display()), error)
        })
    };
    let programs = PROGRAMS
        .iter()
        .map(|(id, file)| {
            Ok(PackagedProgram {
                id: *id,
                path: folder.join(file),
                elf: read(file)?,
            })
        })
        .collect::<Result<_, LightPackageError>>()?;
    let accounts = ACCOUNTS
        .iter()
        .map(|file| parse_account(file, &read(file)?))
        .collect::<Result<_, _>>()?;
    Ok(LightPackage { programs, accounts })
}

/// Downloads the tarball, checks it and unpacks the files we load into `folder`.
fn fetch(folder: &Path) -> Result<(), LightPackageError> {
    eprintln!(
        "Fetching Light Protocol's programs ({PACKAGE_VERSION}, 7.4 MB, once) from the npm registry into {}…",
        folder.display()
    );
    let mut tarball = Vec::new();
    ureq::get(TARBALL)
        .call()
        .map_err(|error| LightPackageError::Download(error.to_string(), folder.to_path_buf()))?
        .into_reader()
        .read_to_end(&mut tarball)
        .map_err(|error| LightPackageError::Download(error.to_string(), folder.to_path_buf()))?;
    let digest = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&tarball))
    );
    if digest != INTEGRITY {
        return Err(LightPackageError::Integrity(digest));
    }
    let io = |what: &str| {
        let what = what.to_string();
        move |error| LightPackageError::Io(what, error)
    };
    // Unpack next to the final folder, then rename, so concurrent processes never read half.
    let parent = folder.parent().unwrap_or(folder);
    std::fs::create_dir_all(parent).map_err(io("creating the cache folder"))?;
    let staging = staging_folder(parent).map_err(io("creating a staging folder"))?;
    let wanted: Vec<&str> = PROGRAMS
        .iter()
        .map(|(_, file)| *file)
        .chain(ACCOUNTS)
        .collect();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball.as_slice()));
    for entry in archive.entries().map_err(io("reading the tarball"))? {
        let mut entry = entry.map_err(io("reading the tarball"))?;
        let path = entry
            .path()
            .map_err(io("reading the tarball"))?
            .into_owned();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let in_place = path.starts_with("package/bin") || path.starts_with("package/accounts");
        if in_place && wanted.contains(&name) {
            let target = staging.join(name);
            entry.unpack(&target).map_err(io("unpacking the tarball"))?;
        }
    }
    if let Some(missing) = wanted.iter().find(|name| !staging.join(name).exists()) {
        return Err(LightPackageError::Missing(missing.to_string()));
    }
    std::fs::write(staging.join("complete"), PACKAGE_VERSION).map_err(io("writing the cache"))?;
    match std::fs::rename(&staging, folder) {
        Ok(()) => Ok(()),
        // Another process got there first: its copy is as good.
        Err(_) if folder.join("complete").exists() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(error) => Err(LightPackageError::Io(
            format!("moving the package into {}", folder.display()),
            error,
        )),
    }
}

/// A fresh folder under `parent` named for this process.
fn staging_folder(parent: &Path) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let dir = parent.join(format!(
        ".light-{PACKAGE_VERSION}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// An account file in the Solana CLI's JSON form (`solana account --output json`).
fn parse_account(file: &str, bytes: &[u8]) -> Result<PackagedAccount, LightPackageError> {
    let malformed = || LightPackageError::MalformedAccount(file.to_string());
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| malformed())?;
    let key = |value: &serde_json::Value| {
        value
            .as_str()
            .and_then(|text| Pubkey::from_str(text).ok())
            .ok_or_else(malformed)
    };
    let account = &json["account"];
    let data = account["data"][0]
        .as_str()
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .ok_or_else(malformed)?;
    Ok(PackagedAccount {
        address: key(&json["pubkey"])?,
        lamports: account["lamports"].as_u64().ok_or_else(malformed)?,
        owner: key(&account["owner"])?,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_file_parses_and_a_broken_one_is_refused() {
        let file = br#"{"pubkey":"35hkDgaAKwMCaxRz2ocSZ6NaUrtKkyNqU6c4RV3tYJRh","account":{"lamports":1614720,"data":["AQID","base64"],"owner":"compr6CUsB5m2jS4Y3831ztGSTnDpnKJTKS95d64XVq","executable":false,"rentEpoch":0,"space":3}}"#;
        let account = parse_account("a.json", file).expect("parses");
        assert_eq!(account.lamports, 1_614_720);
        assert_eq!(account.data, vec![1, 2, 3]);
        assert_eq!(account.owner, LIGHT_COMPRESSION_PROGRAM);
        assert!(matches!(
            parse_account("b.json", br#"{"pubkey":"x","account":{}}"#),
            Err(LightPackageError::MalformedAccount(_))
        ));
    }
}
