//! The cluster connection: JSON-RPC for reads and sends, the PubSub URL for subscriptions, and
//! the genesis hash that binds keys to a cluster. Transactions are confirmed at `confirmed`,
//! resent while their blockhash lives and signed afresh only once it has expired, so a
//! transaction is never executed twice; the program's refusals come back as its error enum.

use crate::envelope::KeyContext;
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::AccountDeserialize;
use chainference::error::ChainferenceError;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_message::{v0, AddressLookupTableAccount, Message, VersionedMessage};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::client_error::{Error as ClientError, ErrorKind as ClientErrorKind};
use solana_rpc_client_api::config::RpcAccountInfoConfig;
use solana_rpc_client_api::custom_error::JSON_RPC_SERVER_ERROR_MIN_CONTEXT_SLOT_NOT_REACHED;
use solana_rpc_client_api::request::RpcError;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a sent transaction's status is polled.
const POLL: Duration = Duration::from_millis(150);
/// How often a transaction not yet seen is sent again while its blockhash lives.
const RESEND: Duration = Duration::from_secs(2);
/// How often an unreachable RPC is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How long a connection waits for an unreachable RPC by default.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(120);

/// Why talking to the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The RPC endpoint did not answer.
    #[error("cannot reach the RPC at {url} ({reason}): check -u/--url, or start a local node with `chainference localnet`")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The program refused the transaction.
    #[error("the program refused: {name}: {0}", name = .0.name())]
    Refused(ChainferenceError),
    /// The runtime refused the transaction (funds, signatures, accounts).
    #[error("the transaction failed: {0}")]
    Transaction(TransactionError),
    /// The RPC call failed.
    #[error("RPC error: {0}")]
    Rpc(Box<ClientError>),
    /// The transaction could not be built or signed.
    #[error("the transaction could not be built: {0}")]
    Build(String),
    /// An account is not what it should be.
    #[error("account {address} does not hold a valid {kind}")]
    BadAccount {
        /// The account.
        address: Pubkey,
        /// What it should hold.
        kind: &'static str,
    },
}

impl From<ClientError> for ChainError {
    fn from(error: ClientError) -> Self {
        match error.get_transaction_error() {
            Some(error) => refusal(error),
            None => Self::Rpc(Box::new(error)),
        }
    }
}

impl ChainError {
    /// The program's error, if the program refused.
    pub fn refused(&self) -> Option<ChainferenceError> {
        match self {
            Self::Refused(error) => Some(*error),
            _ => None,
        }
    }
}

/// A connection to one cluster.
#[derive(Clone)]
pub struct Chain {
    rpc: Arc<RpcClient>,
    rpc_url: String,
    pubsub_url: String,
    genesis_hash: [u8; 32],
    /// How long an unreachable RPC (or one behind) is waited for.
    patience: Duration,
    /// The newest slot this connection has seen the cluster at (an account read's context, a
    /// transaction's confirmation), shared by its clones. Account reads ask for a bank at
    /// least this new (`minContextSlot`), so a node behind (restarted and replaying its
    /// ledger, or a replica lagging) is waited for instead of showing an older state, e.g. a
    /// request that does not exist yet read as one that is gone.
    seen_slot: Arc<AtomicU64>,
}

impl Chain {
    /// Connects to the cluster at `rpc_url` (subscriptions at `pubsub_url`) at `confirmed`, and
    /// reads its genesis hash; an unreachable RPC is waited for up to [`DEFAULT_PATIENCE`].
    pub async fn connect(rpc_url: &str, pubsub_url: &str) -> Result<Self, ChainError> {
        Self::connect_with_patience(rpc_url, pubsub_url, DEFAULT_PATIENCE).await
    }

    /// [`Chain::connect`], waiting up to `patience` whenever the RPC cannot be reached, at the
    /// start or later (zero: fail at once).
    pub async fn connect_with_patience(
        rpc_url: &str,
        pubsub_url: &str,
        patience: Duration,
    ) -> Result<Self, ChainError> {
        let rpc = RpcClient::new_with_timeout_and_commitment(
            rpc_url.to_string(),
            Duration::from_secs(30),
            CommitmentConfig::confirmed(),
        );
        let mut chain = Self {
            rpc: Arc::new(rpc),
            rpc_url: rpc_url.to_string(),
            pubsub_url: pubsub_url.to_string(),
            genesis_hash: [0; 32],
            patience,
            seen_slot: Arc::new(AtomicU64::new(0)),
        };
        let genesis = chain
            .call(|rpc| async move { rpc.get_genesis_hash().await })
            .await
            .map_err(|error| ChainError::Unreachable {
                url: rpc_url.to_string(),
                reason: error.to_string(),
            })?;
        chain.genesis_hash = genesis.to_bytes();
        Ok(chain)
    }

    /// The JSON-RPC client.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The JSON-RPC URL.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The PubSub URL.
    pub fn pubsub_url(&self) -> &str {
        &self.pubsub_url
    }

    /// The cluster's genesis hash.
    pub fn genesis_hash(&self) -> [u8; 32] {
        self.genesis_hash
    }

    /// What binds keys to `request` on this cluster.
    pub fn key_context(&self, request: &Pubkey) -> KeyContext {
        KeyContext {
            genesis_hash: self.genesis_hash,
            program_id: chainference::ID.to_bytes(),
            request: request.to_bytes(),
        }
    }

    /// Notes that the cluster was seen at `slot`: reads from now on show at least that bank.
    fn saw_slot(&self, slot: u64) {
        self.seen_slot.fetch_max(slot, Ordering::Relaxed);
    }

    /// Runs one RPC call; while the RPC cannot be reached (a node restarting, a network cut)
    /// or is behind the slot a read asks for, it says so once and tries again, for up to the
    /// connection's patience.
    pub async fn call<T, Call, Answer>(&self, call: Call) -> Result<T, ChainError>
    where
        Call: Fn(Arc<RpcClient>) -> Answer,
        Answer: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut outage: Option<Instant> = None;
        loop {
            match call(self.rpc.clone()).await {
                Ok(answer) => {
                    if let Some(since) = outage {
                        tracing::warn!(url = %self.rpc_url, after_s = since.elapsed().as_secs(), "the RPC answers again; carrying on");
                    }
                    return Ok(answer);
                }
                Err(error)
                    if (unreachable(&error) || behind(&error))
                        && !self.patience.is_zero()
                        && outage.is_none_or(|since| since.elapsed() < self.patience) =>
                {
                    if outage.is_none() {
                        tracing::warn!(url = %self.rpc_url, %error, patience_s = self.patience.as_secs(), "the RPC cannot be reached or is behind what was seen; waiting for it");
                        outage = Some(Instant::now());
                    }
                    tokio::time::sleep(RETRY).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The newest blockhash at `confirmed` and the block height after which it can no longer
    /// land.
    pub async fn latest_blockhash(&self) -> Result<(solana_hash::Hash, u64), ChainError> {
        self.call(|rpc| async move {
            rpc.get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
                .await
        })
        .await
    }

    /// The block height at `confirmed`.
    pub async fn block_height(&self) -> Result<u64, ChainError> {
        self.call(|rpc| async move {
            rpc.get_block_height_with_commitment(CommitmentConfig::confirmed())
                .await
        })
        .await
    }

    /// Reads and decodes an Anchor account at `confirmed`, from a bank at least as new as any
    /// this connection has seen; `None` if it does not exist there.
    pub async fn account<T: AccountDeserialize>(
        &self,
        address: &Pubkey,
        kind: &'static str,
    ) -> Result<Option<T>, ChainError> {
        let response = self
            // Not getAccountInfo: its client folds transport errors into "AccountNotFound",
            // which would hide an unreachable node.
            .call(|rpc| {
                let config = RpcAccountInfoConfig {
                    encoding: Some(UiAccountEncoding::Base64),
                    data_slice: None,
                    commitment: Some(CommitmentConfig::confirmed()),
                    min_context_slot: Some(self.seen_slot.load(Ordering::Relaxed)),
                };
                async move {
                    rpc.get_multiple_ui_accounts_with_config(&[*address], config)
                        .await
                }
            })
            .await?;
        self.saw_slot(response.context.slot);
        let bad = || ChainError::BadAccount {
            address: *address,
            kind,
        };
        match response.value.into_iter().next().flatten() {
            None => Ok(None),
            Some(account) => {
                let owner: Pubkey = account.owner.parse().map_err(|_| bad())?;
                if owner != chainference::ID {
                    return Err(bad());
                }
                let data = account.data.decode().ok_or_else(bad)?;
                T::try_deserialize(&mut data.as_slice())
                    .map(Some)
                    .map_err(|_| bad())
            }
        }
    }

    /// Lamports held by `address` (0 if it does not exist).
    pub async fn balance(&self, address: &Pubkey) -> Result<u64, ChainError> {
        self.call(|rpc| async move { rpc.get_balance(address).await })
            .await
    }

    /// Unix time of the latest confirmed block, the clock instructions are judged by.
    pub async fn now(&self) -> Result<i64, ChainError> {
        let slot = self.call(|rpc| async move { rpc.get_slot().await }).await?;
        Ok(self.rpc.get_block_time(slot).await.unwrap_or_else(|_| {
            // A block's time can be missing right after it is made: fall back to ours.
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs() as i64)
        }))
    }

    /// Signs `instructions` with `payer` (and `signers`), sends and waits for `confirmed`.
    /// The same transaction is resent while its blockhash lives; only once that blockhash can
    /// no longer land is it signed again with a fresh one, so it never executes twice.
    pub async fn send(
        &self,
        instructions: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> Result<Signature, ChainError> {
        self.send_watched(
            instructions,
            payer,
            signers,
            &[],
            |_| std::future::ready(()),
        )
        .await
    }

    /// [`Chain::send`], as a v0 transaction that loads accounts from `tables` (a legacy one
    /// if there are none), awaiting `sent` each time a newly signed transaction has been
    /// handed to the RPC and before it is confirmed (where a crash leaves it in flight).
    pub async fn send_watched<Sent: std::future::Future<Output = ()>>(
        &self,
        instructions: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
        tables: &[AddressLookupTableAccount],
        mut sent: impl FnMut(Signature) -> Sent,
    ) -> Result<Signature, ChainError> {
        let mut all: Vec<&Keypair> = vec![payer];
        all.extend_from_slice(signers);
        loop {
            let (blockhash, last_valid) = self.latest_blockhash().await?;
            let message = compile(&payer.pubkey(), instructions, tables, blockhash)?;
            let transaction = VersionedTransaction::try_new(message, all.as_slice())
                .map_err(|error| ChainError::Build(error.to_string()))?;
            let transaction = &transaction;
            let signature = self
                .call(|rpc| async move { rpc.send_transaction(transaction).await })
                .await?;
            sent(signature).await;
            if let Some(result) = self.confirm(transaction, &signature, last_valid).await? {
                return result.map(|()| signature);
            }
            tracing::debug!(%signature, "blockhash expired before confirmation; signing again");
        }
    }

    /// Waits until `signature` is confirmed (its result) or its blockhash expired (`None`).
    async fn confirm(
        &self,
        transaction: &VersionedTransaction,
        signature: &Signature,
        last_valid: u64,
    ) -> Result<Option<Result<(), ChainError>>, ChainError> {
        let mut since_send = Duration::ZERO;
        loop {
            tokio::time::sleep(POLL).await;
            since_send += POLL;
            let statuses = self
                .call(|rpc| async move { rpc.get_signature_statuses(&[*signature]).await })
                .await?;
            if let Some(Some(status)) = statuses.value.first() {
                if status.satisfies_commitment(CommitmentConfig::confirmed()) {
                    // What this transaction did is seen by every read after it.
                    self.saw_slot(status.slot);
                    return Ok(Some(match &status.err {
                        None => Ok(()),
                        Some(error) => Err(refusal(error.clone())),
                    }));
                }
                continue;
            }
            let height = self.block_height().await?;
            if height > last_valid {
                return Ok(None);
            }
            if since_send >= RESEND {
                since_send = Duration::ZERO;
                // A duplicate of a transaction that landed is dropped by the cluster.
                if let Err(error) = self.rpc.send_transaction(transaction).await {
                    tracing::debug!(%error, "resend failed");
                }
            }
        }
    }
}

/// The message of `instructions` paid by `payer`: v0, loading what it can from `tables`, or
/// legacy if there are none.
fn compile(
    payer: &Pubkey,
    instructions: &[Instruction],
    tables: &[AddressLookupTableAccount],
    blockhash: solana_hash::Hash,
) -> Result<VersionedMessage, ChainError> {
    Ok(if tables.is_empty() {
        VersionedMessage::Legacy(Message::new_with_blockhash(
            instructions,
            Some(payer),
            &blockhash,
        ))
    } else {
        VersionedMessage::V0(
            v0::Message::try_compile(payer, instructions, tables, blockhash)
                .map_err(|error| ChainError::Build(error.to_string()))?,
        )
    })
}

/// The serialized size of the transaction [`Chain::send_watched`] would send for
/// `instructions` signed by `payer` alone, bytes.
pub fn transaction_size(
    payer: &Pubkey,
    instructions: &[Instruction],
    tables: &[AddressLookupTableAccount],
) -> Result<usize, ChainError> {
    let message = compile(payer, instructions, tables, solana_hash::Hash::default())?;
    // One signature (its count, then 64 bytes) before the message.
    Ok(1 + 64 + message.serialize().len())
}

/// Whether `error` means the RPC could not be reached at all (as opposed to an answer).
fn unreachable(error: &ClientError) -> bool {
    match error.kind() {
        ClientErrorKind::Io(_) => true,
        ClientErrorKind::Reqwest(error) => error.status().is_none(),
        _ => false,
    }
}

/// Whether `error` is the node saying its bank is older than the slot a read asked for.
fn behind(error: &ClientError) -> bool {
    matches!(
        error.kind(),
        ClientErrorKind::RpcError(RpcError::RpcResponseError { code, .. })
            if *code == JSON_RPC_SERVER_ERROR_MIN_CONTEXT_SLOT_NOT_REACHED
    )
}

/// The program's error for `error` if it is a custom error of ours, else the runtime's.
pub fn refusal(error: TransactionError) -> ChainError {
    use solana_transaction_error::TransactionError::InstructionError;
    if let InstructionError(_, solana_instruction_error::InstructionError::Custom(code)) = &error {
        if let Some(refused) = ChainferenceError::from_code(*code) {
            return ChainError::Refused(refused);
        }
    }
    ChainError::Transaction(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_errors_come_back_as_the_programs_enum() {
        let code: u32 = ChainferenceError::StakeTooSmall.into();
        let error = refusal(TransactionError::InstructionError(
            0,
            solana_instruction_error::InstructionError::Custom(code),
        ));
        assert_eq!(error.refused(), Some(ChainferenceError::StakeTooSmall));
        let other = refusal(TransactionError::InstructionError(
            0,
            solana_instruction_error::InstructionError::Custom(1),
        ));
        assert!(matches!(other, ChainError::Transaction(_)), "{other}");
        assert!(matches!(
            refusal(TransactionError::AccountNotFound),
            ChainError::Transaction(_)
        ));
    }

    /// Every error the published IDL names comes back as the variant of that name, and the
    /// message a user reads is the program's.
    #[test]
    fn the_idls_errors_are_the_enums() {
        let idl: serde_json::Value =
            serde_json::from_str(include_str!("../../idl/chainference.json")).expect("the IDL");
        let errors = idl["errors"].as_array().expect("errors");
        assert!(!errors.is_empty());
        for error in errors {
            let code = u32::try_from(error["code"].as_u64().expect("a code")).expect("u32");
            let ours = ChainferenceError::from_code(code).expect("a code of the enum");
            assert_eq!(ours.name(), error["name"].as_str().expect("a name"));
            assert_eq!(ours.to_string(), error["msg"].as_str().expect("a message"));
        }
        let past = 6000 + u32::try_from(errors.len()).expect("few");
        assert_eq!(ChainferenceError::from_code(past), None);
    }
}
