//! A request's history from the ledger alone: its successful transactions in order
//! (`getSignaturesForAddress`, paginated, failed ones skipped, then `getTransaction`), with our
//! program's instructions decoded from their data, the `ChunkBatch` and `RootBatch` events from
//! their logs, a direct answer's acknowledgement from its ed25519 instruction, and the
//! receipt `close_request` wrote through Light's system program.
//! This is what backfills a stream, what a restarted provider reads the prompt from, and what
//! `history` decrypts after the account is closed.

use crate::receipt::WrittenReceipt;
use crate::rpc::{Chain, ChainError};
use crate::stream::{chunk_batches, program_events};
use anchor_lang::prelude::Pubkey;
use anchor_lang::{AnchorDeserialize, Discriminator};
use base64::Engine as _;
use chainference::compression::NOOP_PROGRAM_ID;
use chainference::events::{ChunkBatch, RequestSettled, RootBatch};
use chainference::instruction as ix;
use chainference::state::RequestTerms;
use chainference_prover::bundle::BundleAck;
use chainference_prover::change_log::{parse_change_log, ChangeLog};
use chainference_prover::core::{precompile_parts, Acknowledgement, Scope};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_rpc_client_api::config::RpcTransactionConfig;
use solana_signature::Signature;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::{
    EncodedTransaction, TransactionBinaryEncoding, UiInstruction, UiTransactionEncoding,
};
use std::str::FromStr;

/// Signatures fetched per page.
const PAGE: usize = 1_000;

/// One of our program's instructions that a request's history is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// `create_request`.
    Create {
        /// The terms.
        terms: RequestTerms,
        /// Lamports escrowed.
        stake: u64,
    },
    /// `lock_request`.
    Lock {
        /// The server's per-request x25519 key.
        server_key: [u8; 32],
        /// The weights the server answers with, as its offer pinned them.
        weights_sha256: [u8; 32],
    },
    /// `submit_prompt`: one piece of the sealed prompt.
    Prompt {
        /// The piece.
        ciphertext: Vec<u8>,
    },
    /// Any other instruction of ours (appends are read from their events).
    Other,
}

/// One successful transaction that mentions the request.
#[derive(Clone, Debug)]
pub struct RecordedTransaction {
    /// Its signature.
    pub signature: Signature,
    /// Its slot.
    pub slot: u64,
    /// Its fee payer (a request's client for `create_request`).
    pub payer: Option<Pubkey>,
    /// Our program's top-level instructions in it that name the account.
    pub instructions: Vec<Recorded>,
    /// The `ChunkBatch` events in its log.
    pub batches: Vec<ChunkBatch>,
    /// The `RootBatch` events of this request in its log (direct delivery).
    pub roots: Vec<RootBatch>,
    /// `RootBatch` events of every request in it (roots of several requests share a
    /// transaction).
    pub all_roots: usize,
    /// The client's acknowledgement of the request an ed25519 instruction in it verified
    /// (the one a direct answer's completion bills on).
    pub acknowledgement: Option<BundleAck>,
    /// The `RequestSettled` event in its log, if it completed the request.
    pub settled: Option<RequestSettled>,
    /// spl-account-compression's change logs (through spl-noop), in the order of its appends.
    pub change_logs: Vec<ChangeLog>,
    /// The request's receipt, if this transaction closed it and wrote one.
    pub receipt: Option<WrittenReceipt>,
    /// The fee it paid, lamports (signatures and any priority fee).
    pub fee: u64,
    /// Compute units it consumed, as the cluster metered them (0 if the node did not say).
    pub compute_units: u64,
    /// Its serialized size, bytes (at most 1,232).
    pub bytes: usize,
}

/// Signatures of the successful transactions that mention `address`, oldest first, as of
/// `commitment`.
pub async fn signatures_of(
    chain: &Chain,
    address: &Pubkey,
    commitment: CommitmentConfig,
) -> Result<Vec<(Signature, u64)>, ChainError> {
    let mut found = Vec::new();
    let mut before = None;
    loop {
        let page = chain
            .call(|rpc| async move {
                rpc.get_signatures_for_address_with_config(
                    address,
                    GetConfirmedSignaturesForAddress2Config {
                        before,
                        until: None,
                        limit: Some(PAGE),
                        commitment: Some(commitment),
                    },
                )
                .await
            })
            .await?;
        let full = page.len() == PAGE;
        for entry in &page {
            if let (None, Ok(signature)) = (&entry.err, Signature::from_str(&entry.signature)) {
                found.push((signature, entry.slot));
            }
        }
        match (full, page.last()) {
            (true, Some(last)) => before = Signature::from_str(&last.signature).ok(),
            _ => break,
        }
    }
    found.reverse();
    Ok(found)
}

/// Reads one transaction (as of `commitment`) and decodes what it did to `address`; `None` if
/// the node does not have it or it failed.
pub async fn read_transaction(
    chain: &Chain,
    signature: &Signature,
    address: &Pubkey,
    commitment: CommitmentConfig,
) -> Result<Option<RecordedTransaction>, ChainError> {
    let transaction = chain
        .call(|rpc| async move {
            rpc.get_transaction_with_config(
                signature,
                RpcTransactionConfig {
                    encoding: Some(UiTransactionEncoding::Base64),
                    commitment: Some(commitment),
                    max_supported_transaction_version: Some(0),
                },
            )
            .await
        })
        .await;
    let transaction = match transaction {
        Ok(transaction) => transaction,
        Err(error) => {
            tracing::debug!(%signature, %error, "transaction not available");
            return Ok(None);
        }
    };
    let Some(meta) = &transaction.transaction.meta else {
        return Ok(None);
    };
    if meta.err.is_some() {
        return Ok(None);
    }
    let logs = match &meta.log_messages {
        OptionSerializer::Some(logs) => logs.clone(),
        _ => Vec::new(),
    };
    let batches = chunk_batches(&logs, &chainference::ID)
        .into_iter()
        .filter(|batch| batch.request == *address)
        .collect();
    let every_root = program_events::<RootBatch>(&logs, &chainference::ID);
    let all_roots = every_root.len();
    let roots = every_root
        .into_iter()
        .filter(|root| root.request == *address)
        .collect();
    let mut acknowledgement = None;
    let settled = program_events::<RequestSettled>(&logs, &chainference::ID)
        .into_iter()
        .find(|settled| settled.request == *address);
    let mut instructions = Vec::new();
    let mut change_logs = Vec::new();
    let mut receipt = None;
    let mut payer = None;
    let bytes = match &transaction.transaction.transaction {
        EncodedTransaction::Binary(data, TransactionBinaryEncoding::Base64) => {
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_or(0, |raw| raw.len())
        }
        _ => 0,
    };
    if let Some(decoded) = transaction.transaction.transaction.decode() {
        let mut keys = decoded.message.static_account_keys().to_vec();
        payer = keys.first().copied();
        if let OptionSerializer::Some(loaded) = &meta.loaded_addresses {
            let loaded = loaded.writable.iter().chain(&loaded.readonly);
            keys.extend(loaded.filter_map(|key| Pubkey::from_str(key).ok()));
        }
        let inner = match &meta.inner_instructions {
            OptionSerializer::Some(inner) => inner.as_slice(),
            _ => &[],
        };
        for instruction in inner.iter().flat_map(|inner| &inner.instructions) {
            let UiInstruction::Compiled(instruction) = instruction else {
                continue;
            };
            let Some(program) = keys.get(usize::from(instruction.program_id_index)) else {
                continue;
            };
            let data = bs58::decode(&instruction.data)
                .into_vec()
                .unwrap_or_default();
            if *program == NOOP_PROGRAM_ID {
                if let Ok(change_log) = parse_change_log(&data) {
                    change_logs.push(change_log);
                }
                continue;
            }
            let accounts: Vec<Pubkey> = instruction
                .accounts
                .iter()
                .filter_map(|index| keys.get(usize::from(*index)).copied())
                .collect();
            receipt = receipt.or_else(|| {
                WrittenReceipt::from_instruction(program, &data, &accounts)
                    .filter(|written| written.receipt.request == *address)
            });
        }
        for instruction in decoded.message.instructions() {
            let program = keys.get(usize::from(instruction.program_id_index));
            let names_address = instruction
                .accounts
                .iter()
                .any(|index| keys.get(usize::from(*index)) == Some(address));
            if program == Some(&chainference::ID) && names_address {
                instructions.push(decode_instruction(&instruction.data));
            }
            if program == Some(&solana_sdk_ids::ed25519_program::ID) {
                let scope = crate::instructions::scope(&chain.genesis_hash(), address);
                acknowledgement =
                    acknowledgement.or_else(|| acknowledgement_in(&instruction.data, &scope));
            }
        }
    }
    Ok(Some(RecordedTransaction {
        signature: *signature,
        slot: transaction.slot,
        payer,
        instructions,
        batches,
        roots,
        all_roots,
        acknowledgement,
        settled,
        change_logs,
        receipt,
        fee: meta.fee,
        compute_units: match meta.compute_units_consumed {
            OptionSerializer::Some(units) => units,
            _ => 0,
        },
        bytes,
    }))
}

/// Every successful transaction that mentions `address`, oldest first, as of `confirmed`.
pub async fn history_of(
    chain: &Chain,
    address: &Pubkey,
) -> Result<Vec<RecordedTransaction>, ChainError> {
    history_at(chain, address, CommitmentConfig::confirmed()).await
}

/// Every successful transaction that mentions `address`, oldest first, as of `commitment`.
pub async fn history_at(
    chain: &Chain,
    address: &Pubkey,
    commitment: CommitmentConfig,
) -> Result<Vec<RecordedTransaction>, ChainError> {
    let mut history = Vec::new();
    for (signature, _) in signatures_of(chain, address, commitment).await? {
        if let Some(recorded) = read_transaction(chain, &signature, address, commitment).await? {
            history.push(recorded);
        }
    }
    Ok(history)
}

/// A request's creation in its history: the terms, the stake and the transaction's fee payer
/// (the client); `None` if the ledger has no `create_request` of it.
pub fn creation(history: &[RecordedTransaction]) -> Option<(&RequestTerms, u64, Option<Pubkey>)> {
    history.iter().find_map(|transaction| {
        transaction
            .instructions
            .iter()
            .find_map(|recorded| match recorded {
                Recorded::Create { terms, stake } => Some((terms, *stake, transaction.payer)),
                _ => None,
            })
    })
}

/// What a request's lock named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locked {
    /// The server's per-request x25519 key.
    pub server_key: [u8; 32],
    /// The weights its offer pinned then.
    pub weights_sha256: [u8; 32],
}

/// The request's lock in its history (a request is locked at most once).
pub fn locked(history: &[RecordedTransaction]) -> Option<Locked> {
    history
        .iter()
        .flat_map(|transaction| &transaction.instructions)
        .find_map(|recorded| match *recorded {
            Recorded::Lock {
                server_key,
                weights_sha256,
            } => Some(Locked {
                server_key,
                weights_sha256,
            }),
            _ => None,
        })
}

/// The sealed prompt of a request: its `submit_prompt` pieces in the order they landed.
pub fn sealed_prompt(history: &[RecordedTransaction]) -> Vec<u8> {
    prompt_pieces(history).concat()
}

/// The `submit_prompt` pieces of a request, in the order they landed (what the request's
/// prompt hash chains over).
pub fn prompt_pieces(history: &[RecordedTransaction]) -> Vec<&[u8]> {
    history
        .iter()
        .flat_map(|transaction| &transaction.instructions)
        .filter_map(|recorded| match recorded {
            Recorded::Prompt { ciphertext } => Some(ciphertext.as_slice()),
            _ => None,
        })
        .collect()
}

/// The acknowledgement in `scope` that an ed25519 precompile instruction's `data` verifies.
fn acknowledgement_in(data: &[u8], scope: &Scope) -> Option<BundleAck> {
    let signed = precompile_parts(data)?;
    let ack = Acknowledgement::parse(scope, signed.message)?;
    Some(BundleAck {
        next_seq: ack.next_seq,
        tokens: ack.tokens,
        chain: ack.chain,
        signature: signed.signature.try_into().ok()?,
    })
}

fn decode_instruction(data: &[u8]) -> Recorded {
    fn args<T: AnchorDeserialize + Discriminator>(data: &[u8]) -> Option<T> {
        T::try_from_slice(data.strip_prefix(T::DISCRIMINATOR)?).ok()
    }
    if let Some(create) = args::<ix::CreateRequest>(data) {
        Recorded::Create {
            terms: create.terms,
            stake: create.stake,
        }
    } else if let Some(lock) = args::<ix::LockRequest>(data) {
        Recorded::Lock {
            server_key: lock.server_key,
            weights_sha256: lock.weights_sha256,
        }
    } else if let Some(prompt) = args::<ix::SubmitPrompt>(data) {
        Recorded::Prompt {
            ciphertext: prompt.ciphertext,
        }
    } else {
        Recorded::Other
    }
}
