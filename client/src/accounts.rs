//! Listing the program's accounts: every registered server, and a wallet's requests.

use crate::rpc::{Chain, ChainError};
use anchor_lang::prelude::Pubkey;
use anchor_lang::{AccountDeserialize, Discriminator};
use chainference::pda::request_address;
use chainference::state::Server;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client_api::config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_rpc_client_api::filter::{Memcmp, RpcFilterType};

/// Every registered server, by account address.
pub async fn servers(chain: &Chain) -> Result<Vec<(Pubkey, Server)>, ChainError> {
    let config = RpcProgramAccountsConfig {
        filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
            0,
            Server::DISCRIMINATOR.to_vec(),
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
            rpc.get_program_ui_accounts_with_config(&chainference::ID, config.clone())
                .await
        })
        .await?;
    let mut servers: Vec<(Pubkey, Server)> = accounts
        .into_iter()
        .filter_map(|(address, account)| {
            let data = account.data.decode()?;
            Some((address, Server::try_deserialize(&mut data.as_slice()).ok()?))
        })
        .collect();
    servers.sort_by_key(|(address, _)| *address);
    Ok(servers)
}

/// The addresses of every request `wallet` created, oldest first (open, settled or closed).
pub async fn request_addresses(chain: &Chain, wallet: &Pubkey) -> Result<Vec<Pubkey>, ChainError> {
    let next = crate::ask::next_nonce(chain, wallet).await?;
    Ok((0..next)
        .map(|nonce| request_address(wallet, nonce))
        .collect())
}
