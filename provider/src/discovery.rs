//! Finding open requests (design §7): `programSubscribe` filtered to open `Request` accounts is
//! the fast path; a periodic `getProgramAccounts` scan with the same filters catches whatever a
//! lost notification or a cut socket missed. Both only hint: the lock decides. The scan also
//! finds the requests this server holds locked or ready, which a restarted provider resumes.

use anchor_lang::prelude::Pubkey;
use anchor_lang::{AccountDeserialize, Discriminator};
use chainference::state::{Request, RequestState};
use chainference_client::rpc::Chain;
use futures_util::StreamExt;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_commitment_config::CommitmentConfig;
use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
use solana_rpc_client_api::config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_rpc_client_api::filter::{Memcmp, RpcFilterType};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::mpsc;

/// Filters that select requests in `state`.
fn requests_in(state: RequestState) -> RpcProgramAccountsConfig {
    RpcProgramAccountsConfig {
        filters: Some(vec![
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, Request::DISCRIMINATOR.to_vec())),
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                Request::STATE_OFFSET,
                vec![state as u8],
            )),
        ]),
        account_config: RpcAccountInfoConfig {
            encoding: Some(UiAccountEncoding::Base64),
            commitment: Some(CommitmentConfig::confirmed()),
            ..RpcAccountInfoConfig::default()
        },
        ..RpcProgramAccountsConfig::default()
    }
}

/// Sends every open request found to `found` until the receiver is dropped: from the
/// subscription (reconnected when cut) and from a scan every `scan`, which also sends the
/// locked and ready requests `operator` holds.
pub async fn discover(
    chain: Chain,
    operator: Pubkey,
    scan: Duration,
    found: mpsc::UnboundedSender<(Pubkey, Request)>,
) {
    // Dropped, and so stopped, with this future.
    let mut scanner = tokio::task::JoinSet::new();
    scanner.spawn(scan_loop(chain.clone(), operator, scan, found.clone()));
    while !found.is_closed() {
        if let Err(error) = subscribe(&chain, &found).await {
            tracing::warn!(%error, url = chain.pubsub_url(), "programSubscribe failed; the scan goes on, retrying");
        }
        tokio::time::sleep(scan).await;
    }
}

async fn subscribe(
    chain: &Chain,
    found: &mpsc::UnboundedSender<(Pubkey, Request)>,
) -> Result<(), String> {
    let pubsub = PubsubClient::new(chain.pubsub_url())
        .await
        .map_err(|error| error.to_string())?;
    let (mut notifications, _unsubscribe) = pubsub
        .program_subscribe(&chainference::ID, Some(requests_in(RequestState::Open)))
        .await
        .map_err(|error| error.to_string())?;
    while let Some(notification) = notifications.next().await {
        let keyed = notification.value;
        let (Ok(address), Some(data)) =
            (Pubkey::from_str(&keyed.pubkey), keyed.account.data.decode())
        else {
            continue;
        };
        if let Ok(request) = Request::try_deserialize(&mut data.as_slice()) {
            if found.send((address, request)).is_err() {
                return Ok(());
            }
        }
    }
    Err("the socket closed".into())
}

async fn scan_loop(
    chain: Chain,
    operator: Pubkey,
    scan: Duration,
    found: mpsc::UnboundedSender<(Pubkey, Request)>,
) {
    let states = [
        RequestState::Open,
        RequestState::Locked,
        RequestState::Ready,
    ];
    loop {
        for state in states {
            let accounts = match chain
                .call(|rpc| async move {
                    rpc.get_program_ui_accounts_with_config(&chainference::ID, requests_in(state))
                        .await
                })
                .await
            {
                Ok(accounts) => accounts,
                Err(error) => {
                    tracing::warn!(%error, ?state, "scan for requests failed; retrying");
                    continue;
                }
            };
            for (address, account) in accounts {
                let Some(data) = account.data.decode() else {
                    continue;
                };
                let Ok(request) = Request::try_deserialize(&mut data.as_slice()) else {
                    continue;
                };
                let wanted = state == RequestState::Open || request.lock.operator == operator;
                if wanted && found.send((address, request)).is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(scan).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::{AccountSerialize, Space};

    /// A request's account data in `state`, its client and nonce all ones.
    fn request_data(state: RequestState) -> Vec<u8> {
        let mut data = Request::DISCRIMINATOR.to_vec();
        data.resize(data.len() + Request::INIT_SPACE, 0);
        let mut request =
            Request::try_deserialize(&mut data.as_slice()).expect("zeroes are a request");
        request.client = Pubkey::new_from_array([0xFF; 32]);
        request.nonce = u64::MAX;
        request.state = state;
        let mut data = Vec::new();
        request
            .try_serialize(&mut data)
            .expect("a request serializes");
        data
    }

    #[test]
    fn the_filters_select_exactly_the_requests_in_their_state() {
        let states = [
            RequestState::Open,
            RequestState::Locked,
            RequestState::Ready,
            RequestState::Completed,
        ];
        for wanted in states {
            let filters = requests_in(wanted).filters.expect("filters");
            for state in states {
                let data = request_data(state);
                let selected = filters.iter().all(|filter| match filter {
                    RpcFilterType::Memcmp(memcmp) => memcmp.bytes_match(&data),
                    _ => false,
                });
                assert_eq!(selected, state == wanted, "{wanted:?} selecting {state:?}");
            }
        }
    }
}
