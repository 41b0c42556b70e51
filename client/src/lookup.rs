//! Address lookup tables for v0 transactions: a provider's appends name the tree authority,
//! spl-account-compression, spl-noop and its tree (and its completions its server and the
//! treasury) through one table, 31 bytes a key less than inline (design §4). The table is
//! found on chain by its authority, or created and extended once; the chain stays the only
//! state.

use crate::instructions::provider_lookup_addresses;
use crate::rpc::{Chain, ChainError};
use anchor_lang::prelude::Pubkey;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_address_lookup_table_interface::instruction::{
    create_lookup_table, extend_lookup_table,
};
use solana_address_lookup_table_interface::state::AddressLookupTable;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_message::AddressLookupTableAccount;
use solana_rpc_client_api::config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_rpc_client_api::filter::{Memcmp, RpcFilterType};
use solana_signer::Signer;
use std::time::Duration;

/// Offset of the authority's `Option` tag in a lookup table account (after the state's
/// 4-byte tag, the deactivation slot, the last extended slot and its start index).
const AUTHORITY_OFFSET: usize = 4 + 8 + 8 + 1;

/// The lookup table `operator`'s appends to `tree` and completions use: an active table of
/// the operator's holding every account they load, or a new one (created, extended and
/// waited for until it can be used, one slot later).
pub async fn provider_table(
    chain: &Chain,
    operator: &Keypair,
    tree: &Pubkey,
) -> Result<AddressLookupTableAccount, ChainError> {
    let wanted = provider_lookup_addresses(&operator.pubkey(), tree);
    if let Some(table) = find_table(chain, &operator.pubkey(), &wanted).await? {
        return Ok(table);
    }
    let slot = finalized_slot(chain).await?;
    let (create, key) = create_lookup_table(operator.pubkey(), operator.pubkey(), slot);
    let extend = extend_lookup_table(
        key,
        operator.pubkey(),
        Some(operator.pubkey()),
        wanted.to_vec(),
    );
    chain.send(&[create, extend], operator, &[]).await?;
    // Addresses added in one slot can be loaded from the next one on, and a leader resolves
    // lookup tables against its root bank: a v0 transaction sent before the table is
    // finalized is dropped. So wait until the finalized slot has passed the one it was
    // extended in (about 13 s).
    tracing::info!(table = %key, "address lookup table created for the appends; waiting until it is finalized");
    let added_at = chain
        .call(|rpc| async move { rpc.get_slot().await })
        .await?;
    while finalized_slot(chain).await? <= added_at {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    Ok(AddressLookupTableAccount {
        key,
        addresses: wanted.to_vec(),
    })
}

/// The cluster's latest finalized slot.
async fn finalized_slot(chain: &Chain) -> Result<u64, ChainError> {
    chain
        .call(|rpc| async move {
            rpc.get_slot_with_commitment(CommitmentConfig::finalized())
                .await
        })
        .await
}

/// An active lookup table of `authority`'s that holds every one of `wanted`.
async fn find_table(
    chain: &Chain,
    authority: &Pubkey,
    wanted: &[Pubkey],
) -> Result<Option<AddressLookupTableAccount>, ChainError> {
    let mut authority_bytes = vec![1u8];
    authority_bytes.extend_from_slice(authority.as_ref());
    let config = RpcProgramAccountsConfig {
        filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
            AUTHORITY_OFFSET,
            authority_bytes,
        ))]),
        account_config: RpcAccountInfoConfig {
            encoding: Some(UiAccountEncoding::Base64),
            commitment: Some(CommitmentConfig::confirmed()),
            ..RpcAccountInfoConfig::default()
        },
        ..RpcProgramAccountsConfig::default()
    };
    let config = &config;
    let accounts = chain
        .call(|rpc| async move {
            rpc.get_program_ui_accounts_with_config(
                &solana_address_lookup_table_interface::program::ID,
                config.clone(),
            )
            .await
        })
        .await?;
    let mut found = accounts.into_iter().filter_map(|(key, account)| {
        let data = account.data.decode()?;
        let table = AddressLookupTable::deserialize(&data).ok()?;
        let usable = table.meta.deactivation_slot == u64::MAX
            && wanted
                .iter()
                .all(|address| table.addresses.contains(address));
        usable.then(|| AddressLookupTableAccount {
            key,
            addresses: table.addresses.to_vec(),
        })
    });
    Ok(found.next())
}
