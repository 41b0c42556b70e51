//! The local node: solana-test-validator in process, with every program deployed in genesis as
//! a cluster has it (sBPF, upgradeable loader, compute metered): Chainference and
//! spl-account-compression built from this tree (`chainference_native::sbf`), spl-noop and Light
//! Protocol's programs and v1 state trees from Light's package. It serves the same JSON-RPC and
//! PubSub as devnet, its config initialized by the local admin key, and a faucet behind
//! `requestAirdrop`. Clients and providers know it is
//! local only by its genesis hash.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::system_instruction;
use anyhow::{anyhow, Context, Result};
use chainference::pda::config_address;
use chainference::state::ConfigParams;
use chainference_client::instructions::initialize_config;
use solana_account::AccountSharedData;
use solana_commitment_config::CommitmentConfig;
use solana_faucet::faucet::{run_faucet, Faucet};
use solana_keypair::Keypair;
use solana_rpc::rpc::JsonRpcConfig;
use solana_rpc_client::rpc_client::RpcClient;
use solana_signer::Signer;
use solana_test_validator::{TestValidator, TestValidatorGenesis, UpgradeableProgramInfo};
use solana_transaction::Transaction;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use temporary::TemporaryLedger;

mod temporary;

/// A running local node.
pub struct LocalNode {
    validator: TestValidator,
    mint: Keypair,
    _ledger: Option<TemporaryLedger>,
}

impl LocalNode {
    /// Starts a node with its ledger in `ledger` (if `None`, a temporary folder, removed when
    /// the node is dropped or, once the process is gone, when the next is made) on free ports,
    /// with the default config. A ledger folder a node already ran in is started from where
    /// that node stopped: its accounts, programs and mint as they were.
    pub fn start(ledger: Option<&Path>) -> Result<Self> {
        Self::start_with(ledger, None, ConfigParams::with_fee(0))
    }

    /// Starts a node whose JSON-RPC listens on `rpc_port` (PubSub on the next port; free ports
    /// if `None`), its config initialized with `config`.
    pub fn start_with(
        ledger: Option<&Path>,
        rpc_port: Option<u16>,
        config: ConfigParams,
    ) -> Result<Self> {
        let temporary = match ledger {
            Some(_) => None,
            None => Some(TemporaryLedger::new().context("creating a temporary ledger folder")?),
        };
        let ledger_path: PathBuf = match (&temporary, ledger) {
            (Some(dir), _) => dir.path().to_path_buf(),
            (None, Some(path)) => path.to_path_buf(),
            (None, None) => unreachable!("one of the two is set"),
        };
        let mint = ledger_mint(&ledger_path)?;
        let faucet = start_faucet(&mint)?;
        let mut genesis = TestValidatorGenesis::default();
        genesis
            .ledger_path(&ledger_path)
            .rpc_config(JsonRpcConfig {
                enable_rpc_transaction_history: true,
                enable_extended_tx_metadata_storage: true,
                ..JsonRpcConfig::default_for_test()
            })
            .faucet_addr(Some(faucet));
        if let Some(port) = rpc_port {
            genesis.rpc_port(port);
        }
        // The validator's gossip port is otherwise the first of its port range, so a second
        // node in one process would fail to bind it.
        genesis.gossip_port(free_gossip_port()?);
        add_programs(&mut genesis, &ledger_path)?;
        let validator = genesis
            .start_with_mint_address(
                mint.pubkey(),
                solana_net_utils::SocketAddrSpace::Unspecified,
            )
            .map_err(|error| anyhow!("the local node did not start: {error}"))?;
        give_way_to_inference().context("lowering the local node's banking scheduler")?;
        let node = Self {
            validator,
            mint,
            _ledger: temporary,
        };
        node.wait_for_confirmed_replay()?;
        if node.rpc().get_account(&config_address()).is_err() {
            node.initialize_config(config)?;
        }
        Ok(node)
    }

    /// The JSON-RPC URL.
    pub fn rpc_url(&self) -> String {
        self.validator.rpc_url()
    }

    /// The PubSub (WebSocket) URL.
    pub fn pubsub_url(&self) -> String {
        self.validator.rpc_pubsub_url()
    }

    /// A blocking RPC client at `confirmed`.
    pub fn rpc(&self) -> RpcClient {
        RpcClient::new_with_commitment(self.rpc_url(), CommitmentConfig::confirmed())
    }

    /// Sends `lamports` from the genesis mint to `to` and waits for confirmation.
    pub fn fund(&self, to: &Pubkey, lamports: u64) -> Result<()> {
        let rpc = self.rpc();
        let ix = system_instruction::transfer(&self.mint.pubkey(), to, lamports);
        let blockhash = rpc
            .get_latest_blockhash()
            .context("the local node's RPC did not answer")?;
        let tx = Transaction::new_signed_with_payer(
            &[ix],
            Some(&self.mint.pubkey()),
            &[&self.mint],
            blockhash,
        );
        rpc.send_and_confirm_transaction(&tx)
            .context("funding from the local mint")?;
        Ok(())
    }

    /// Waits until the slots the node replayed from its ledger are confirmed: a node started
    /// again from a ledger replays it first, and until its votes confirm the replayed slots,
    /// reads at `confirmed` see an older bank (where requests made since may not exist yet).
    fn wait_for_confirmed_replay(&self) -> Result<()> {
        let rpc = self.rpc();
        let replayed = rpc
            .get_slot_with_commitment(CommitmentConfig::processed())
            .context("the local node's RPC did not answer")?;
        for _ in 0..600 {
            let confirmed = rpc
                .get_slot_with_commitment(CommitmentConfig::confirmed())
                .context("the local node's RPC did not answer")?;
            if confirmed >= replayed {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(anyhow!(
            "the local node did not confirm the slots it replayed from its ledger within a minute"
        ))
    }

    /// Initializes the config for this node's cluster (its genesis hash).
    fn initialize_config(&self, params: ConfigParams) -> Result<()> {
        let admin = chainference_native::local_admin();
        self.fund(&admin.pubkey(), 10_000_000_000)?;
        let rpc = self.rpc();
        let genesis = rpc
            .get_genesis_hash()
            .context("the local node's RPC did not answer")?;
        let ix = initialize_config(&admin.pubkey(), params, genesis.to_bytes());
        let blockhash = rpc.get_latest_blockhash()?;
        let tx =
            Transaction::new_signed_with_payer(&[ix], Some(&admin.pubkey()), &[&admin], blockhash);
        rpc.send_and_confirm_transaction(&tx)
            .context("initializing the local config")?;
        Ok(())
    }
}

/// The genesis mint of the node whose ledger is `ledger`: kept in the folder beside the ledger
/// so a node started again from it can still fund accounts; a new one for a new ledger.
fn ledger_mint(ledger: &Path) -> Result<Keypair> {
    let path = ledger.join("mint.json");
    if path.exists() {
        return chainference_client::wallet::read_keypair(&path)
            .map_err(|error| anyhow!("the ledger's mint: {error}"));
    }
    let mint = Keypair::new();
    std::fs::create_dir_all(ledger).with_context(|| format!("creating {}", ledger.display()))?;
    chainference_client::wallet::write_keypair(&mint, &path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(mint)
}

/// Light's largest genesis: its programs and trees make the genesis about 7 MB, and the
/// validator's default cap (10 MiB) leaves little room; 64 MiB leaves plenty.
const MAX_GENESIS_BYTES: u64 = 64 * 1024 * 1024;

/// Deploys every program in `genesis` as a cluster has them (sBPF, upgradeable loader): ours
/// (written into the ledger folder, which the validator reads them from), and Light's system
/// program, account-compression and spl-noop with Light's v1 state trees, so that
/// `close_request` can write receipts.
fn add_programs(genesis: &mut TestValidatorGenesis, ledger: &Path) -> Result<()> {
    let folder = ledger.join("programs");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let mut programs = Vec::new();
    for program in chainference_native::sbf::PROGRAMS {
        let path = folder.join(program.file);
        std::fs::write(&path, program.elf)
            .with_context(|| format!("writing {}", path.display()))?;
        programs.push((program.id, path));
    }
    let light = chainference_native::light::package().map_err(|error| anyhow!("{error}"))?;
    programs.extend(
        light
            .programs
            .iter()
            .map(|program| (program.id, program.path.clone())),
    );
    let programs: Vec<UpgradeableProgramInfo> = programs
        .into_iter()
        .map(|(program_id, program_path)| UpgradeableProgramInfo {
            program_id,
            loader: solana_sdk_ids::bpf_loader_upgradeable::ID,
            upgrade_authority: Pubkey::default(),
            program_path,
        })
        .collect();
    genesis.add_upgradeable_programs_with_path(&programs);
    for account in &light.accounts {
        let mut shared =
            AccountSharedData::new(account.lamports, account.data.len(), &account.owner);
        shared.set_data_from_slice(&account.data);
        genesis.add_account(account.address, shared);
    }
    genesis.max_genesis_archive_unpacked_size = Some(MAX_GENESIS_BYTES);
    Ok(())
}

/// A local port free for both UDP and TCP (gossip binds both).
fn free_gossip_port() -> Result<u16> {
    for _ in 0..16 {
        let udp = std::net::UdpSocket::bind(("127.0.0.1", 0)).context("finding a free port")?;
        let port = udp.local_addr().context("finding a free port")?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(anyhow!("no local port is free for the node's gossip"))
}

/// Runs a faucet for `mint`'s lamports on a free local port (what `requestAirdrop` uses).
fn start_faucet(mint: &Keypair) -> Result<std::net::SocketAddr> {
    let keypair = Keypair::try_from(mint.to_bytes().as_slice())
        .map_err(|error| anyhow!("copying the mint key: {error}"))?;
    let faucet = Arc::new(Mutex::new(Faucet::new(keypair, None, None, None)));
    let (sender, receiver) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("faucet".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => runtime.block_on(run_faucet(
                    faucet,
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    Some(sender),
                )),
                Err(error) => {
                    let _ = sender.send(Err(error.to_string()));
                }
            }
        })
        .context("starting the faucet thread")?;
    receiver
        .recv()
        .map_err(|_| anyhow!("the faucet did not start"))?
        .map_err(|error| anyhow!("the faucet did not start: {error}"))
}

/// `chainference localnet`: runs a node until interrupted.
pub fn run(ledger: Option<PathBuf>, rpc_port: u16) -> Result<()> {
    let node = LocalNode::start_with(ledger.as_deref(), Some(rpc_port), ConfigParams::with_fee(0))?;
    println!("Local node running (Chainference {}).", chainference::ID);
    println!("RPC URL:       {}", node.rpc_url());
    println!("WebSocket URL: {}", node.pubsub_url());
    println!("Faucet:        `solana airdrop` and requestAirdrop work against it.");
    println!("Press Ctrl-C to stop.");
    loop {
        std::thread::park();
    }
}

/// The name Agave gives its banking stage's scheduler thread.
#[cfg(target_os = "linux")]
const SCHEDULER_THREAD: &str = "solBnkTxSched";

/// Runs the node's banking scheduler only as other threads leave it room (`SCHED_IDLE`).
/// Agave's scheduler waits for transactions only while its node does not lead, and a lone local
/// node leads every slot, so it polls without pause: two thirds of a core of a 2-core machine
/// beside inference (during `chainference bench replay`). Under `SCHED_IDLE` it took a fifth of a
/// core there (a third at nice 10), still enough for a local node's few transactions, and a
/// thread of normal priority that wakes takes the CPU from it at once; the workers that execute
/// transactions keep their priority.
#[cfg(target_os = "linux")]
fn give_way_to_inference() -> Result<()> {
    for task in std::fs::read_dir("/proc/self/task").context("listing this process's threads")? {
        let task = task.context("listing this process's threads")?;
        // A thread that ended since the listing has nothing to lower.
        let Ok(name) = std::fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        if name.trim_end() != SCHEDULER_THREAD {
            continue;
        }
        let id: libc::pid_t = task
            .file_name()
            .to_string_lossy()
            .parse()
            .context("a thread id in /proc/self/task")?;
        let idle = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler only reads `idle`; on Linux a thread id names that one
        // thread.
        if unsafe { libc::sched_setscheduler(id, libc::SCHED_IDLE, &idle) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("running thread {id} under SCHED_IDLE"));
        }
    }
    Ok(())
}

/// Elsewhere there is no idle policy for one thread; the scheduler runs as it is.
#[cfg(not(target_os = "linux"))]
fn give_way_to_inference() -> Result<()> {
    Ok(())
}

/// Points file descriptor 1 at `/dev/null` and returns the terminal's stdout, so that nothing
/// the node's or the engine's libraries print mixes with the answer.
pub fn quiet_stdout() -> Result<File> {
    let null = File::options()
        .write(true)
        .open("/dev/null")
        .context("opening /dev/null")?;
    // SAFETY: dup and dup2 on descriptors this process owns; the duplicate is owned by the
    // returned File alone.
    unsafe {
        let saved = libc::dup(1);
        if saved < 0 || libc::dup2(null.as_raw_fd(), 1) < 0 {
            anyhow::bail!(
                "redirecting stdout failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(File::from_raw_fd(saved))
    }
}
