//! A LiteSVM runtime with every program as a cluster runs it (sBPF, compute metered, the real
//! heap, stack and compute limits): Chainference and spl-account-compression built from source
//! ([`crate::sbf`]), spl-noop and Light Protocol's programs and v1 state trees from Light's
//! package, CPIs between them executed for real: the harness of the program tests.

use crate::{light, sbf};
use anchor_lang::prelude::{AccountDeserialize, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use chainference::compression::tree_account_len;
pub use chainference::pda::{config_address, server_address, treasury_address};
use chainference::state::ConfigParams;
use litesvm::types::{FailedTransactionMetadata, TransactionMetadata};
use litesvm::LiteSVM;
use solana_clock::Clock;
use solana_instruction_error::InstructionError;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

pub use litesvm;
pub use solana_keypair;
pub use solana_signer;

/// Lamports every signature costs in the harness (LiteSVM's default fee structure).
pub const FEE_PER_SIGNATURE: u64 = 5_000;

/// The genesis hash the harness's config names (LiteSVM has none): what acknowledgements and
/// per-request keys are signed for in program tests.
pub const HARNESS_CLUSTER: [u8; 32] = [0x11; 32];

/// What a refused transaction failed with.
pub type Refusal = Box<FailedTransactionMetadata>;

/// The runtime with every program loaded.
pub struct Harness {
    /// The LiteSVM instance; tests may reach into it.
    pub svm: LiteSVM,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A fresh runtime with the programs, Light's trees, and no config
    /// (panics if Light's package cannot be had: its error says how to provide it). Each
    /// thread loads them once and clones that runtime, since loading Light's programs is the
    /// slow part.
    pub fn new() -> Self {
        thread_local! {
            static LOADED: LiteSVM = loaded();
        }
        Self {
            svm: LOADED.with(LiteSVM::clone),
        }
    }

    /// A fresh runtime whose config is initialized with `params` by the local admin, for the
    /// cluster [`HARNESS_CLUSTER`].
    pub fn with_config(params: ConfigParams) -> Self {
        Self::on_cluster(params, HARNESS_CLUSTER)
    }

    /// A fresh runtime whose config is initialized with `params` by the local admin, for the
    /// cluster whose genesis hash is `cluster` (LiteSVM has none of its own).
    pub fn on_cluster(params: ConfigParams, cluster: [u8; 32]) -> Self {
        let mut harness = Self::new();
        let admin = harness.admin();
        harness.airdrop(&admin.pubkey(), 10_000_000_000);
        let ix = chainference_client_core::instructions::initialize_config(
            &admin.pubkey(),
            params,
            cluster,
        );
        if let Err(refusal) = harness.send(&[ix], &admin, &[]) {
            panic!(
                "initialize_config failed: {:?}\n{:#?}",
                refusal.err, refusal.meta.logs
            );
        }
        harness
    }

    /// The local admin's keypair (`fixtures/keys/admin.json`).
    pub fn admin(&self) -> Keypair {
        crate::local_admin()
    }

    /// Credits `lamports` to `address`.
    pub fn airdrop(&mut self, address: &Pubkey, lamports: u64) {
        if let Err(refusal) = self.svm.airdrop(address, lamports) {
            panic!("airdrop failed: {:?}", refusal.err);
        }
    }

    /// A new keypair holding `lamports`.
    pub fn funded(&mut self, lamports: u64) -> Keypair {
        let keypair = Keypair::new();
        self.airdrop(&keypair.pubkey(), lamports);
        keypair
    }

    /// Sends one transaction of `instructions`, paid by `payer` and signed by `signers` too,
    /// then moves to a fresh blockhash so an identical transaction can follow.
    pub fn send(
        &mut self,
        instructions: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> Result<TransactionMetadata, Refusal> {
        let mut all: Vec<&Keypair> = vec![payer];
        all.extend(
            signers
                .iter()
                .filter(|signer| signer.pubkey() != payer.pubkey()),
        );
        let message = Message::new(instructions, Some(&payer.pubkey()));
        let transaction = Transaction::new(&all, message, self.svm.latest_blockhash());
        let result = self.svm.send_transaction(transaction).map_err(Box::new);
        self.svm.expire_blockhash();
        result
    }

    /// Lamports held by `address` (0 if it doesn't exist).
    pub fn lamports(&self, address: &Pubkey) -> u64 {
        self.svm
            .get_account(address)
            .map_or(0, |account| account.lamports)
    }

    /// The Anchor account at `address`, if it exists and decodes as `T`.
    pub fn account<T: AccountDeserialize>(&self, address: &Pubkey) -> Option<T> {
        let account = self.svm.get_account(address)?;
        T::try_deserialize(&mut account.data.as_slice()).ok()
    }

    /// The cluster clock's unix time.
    pub fn now(&self) -> i64 {
        self.svm.get_sysvar::<Clock>().unix_timestamp
    }

    /// Moves the clock `secs` seconds (and one slot) forward.
    pub fn advance(&mut self, secs: i64) {
        let mut clock = self.svm.get_sysvar::<Clock>();
        clock.unix_timestamp += secs;
        clock.slot += 1;
        self.svm.set_sysvar(&clock);
    }

    /// Creates a response tree for `operator`'s server in one transaction: the system
    /// `create_account` (owned by spl-account-compression) then `create_tree`.
    pub fn create_tree(
        &mut self,
        operator: &Keypair,
        max_depth: u32,
        max_buffer_size: u32,
    ) -> Result<Pubkey, Refusal> {
        let tree = Keypair::new();
        let space = tree_account_len(max_depth, max_buffer_size);
        let rent = self.svm.minimum_balance_for_rent_exemption(space);
        let [create, init] = chainference_client_core::instructions::create_tree(
            &operator.pubkey(),
            &tree.pubkey(),
            max_depth,
            max_buffer_size,
            rent,
        );
        self.send(&[create, init], operator, &[&tree])?;
        Ok(tree.pubkey())
    }
}

/// A runtime with our programs and Light's programs and accounts.
fn loaded() -> LiteSVM {
    let mut svm = LiteSVM::new();
    for program in sbf::PROGRAMS {
        if let Err(error) = svm.add_program(program.id, program.elf) {
            panic!("loading {}: {error:?}", program.file);
        }
    }
    let light = light::package().unwrap_or_else(|error| panic!("{error}"));
    for program in &light.programs {
        if let Err(error) = svm.add_program(program.id, &program.elf) {
            panic!("loading Light's program {}: {error:?}", program.id);
        }
    }
    for account in &light.accounts {
        let loaded = svm.set_account(
            account.address,
            solana_account::Account {
                lamports: account.lamports,
                data: account.data.clone(),
                owner: account.owner,
                executable: false,
                rent_epoch: u64::MAX,
            },
        );
        if let Err(error) = loaded {
            panic!("loading Light's account {}: {error:?}", account.address);
        }
    }
    svm
}

/// The program error a refused transaction failed with: Anchor's code (ours start at 6000).
pub fn error_code(refusal: &Refusal) -> Option<u32> {
    match refusal.err {
        TransactionError::InstructionError(_, InstructionError::Custom(code)) => Some(code),
        _ => None,
    }
}
