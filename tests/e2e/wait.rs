//! Every wait of the end-to-end tests, in one place. A wait follows the node's progress: its
//! budget is counted in the node's slots (a busy machine makes slots longer, so the budget grows
//! with it), and a finality wait watches the finalized slot pass the transactions in question.
//! Wall-clock limits are only backstops, for a node that has stopped or a page that never
//! updates.

use anchor_lang::prelude::Pubkey;
use chainference_client::rpc::Chain;
use solana_commitment_config::CommitmentConfig;
use std::future::Future;
use std::time::{Duration, Instant};

/// solana-test-validator's slot time, which budgets in seconds are counted in.
const SLOT_MS: u64 = 400;
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(200);
/// The wall-clock backstop: how long a wait lets the node go without a new slot, and how long
/// anything that does not follow the chain (a page, a browser) may take, before giving up.
pub const BACKSTOP: Duration = Duration::from_secs(300);

/// A wait for something that should happen within a budget of the node's slots.
pub struct Patience<'a> {
    chain: &'a Chain,
    what: String,
    /// The slot by which it should have happened.
    deadline: u64,
    /// The newest slot seen, and when it was first seen.
    seen: (u64, Instant),
}

impl<'a> Patience<'a> {
    /// Patience for `what` lasting `secs` of the node's time (counted in its slots) from now.
    pub async fn new(chain: &'a Chain, secs: u64, what: impl Into<String>) -> Self {
        let now = processed_slot(chain).await.unwrap_or(0);
        Self {
            chain,
            what: what.into(),
            deadline: now + secs * 1_000 / SLOT_MS,
            seen: (now, Instant::now()),
        }
    }

    /// Waits one poll interval; panics once the node has passed the budget's slot, or has made
    /// no new slot for [`BACKSTOP`].
    pub async fn tick(&mut self) {
        tokio::time::sleep(POLL).await;
        // An unreachable node makes no progress: only the backstop ends that.
        if let Some(slot) = processed_slot(self.chain).await {
            if slot > self.seen.0 {
                self.seen = (slot, Instant::now());
            }
        }
        let (slot, since) = self.seen;
        assert!(
            slot <= self.deadline,
            "{}: not within its budget (slot {slot}, budget to slot {})",
            self.what,
            self.deadline
        );
        assert!(
            since.elapsed() < BACKSTOP,
            "{}: the node made no slot for {BACKSTOP:?} (at slot {slot})",
            self.what
        );
    }
}

/// Polls `check` until it gives a value, for at most `secs` of the node's time; panics naming
/// `what` when the budget is spent or the node stops.
pub async fn until<T, Check, Checked>(chain: &Chain, secs: u64, what: &str, mut check: Check) -> T
where
    Check: FnMut() -> Checked,
    Checked: Future<Output = Option<T>>,
{
    let mut patience = Patience::new(chain, secs, what).await;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        patience.tick().await;
    }
}

/// The node's newest slot (`processed`), if it answers.
async fn processed_slot(chain: &Chain) -> Option<u64> {
    chain
        .rpc()
        .get_slot_with_commitment(CommitmentConfig::processed())
        .await
        .ok()
}

/// Waits until the node has finalized `slot`, so that a transaction in it reads at `finalized`.
pub async fn finalized(chain: &Chain, slot: u64) {
    // Finality comes some 32 slots after a block; the budget is many times that.
    until(chain, 120, &format!("slot {slot} finalized"), || async {
        let finalized = chain
            .rpc()
            .get_slot_with_commitment(CommitmentConfig::finalized())
            .await
            .ok()?;
        (finalized >= slot).then_some(())
    })
    .await
}

/// Waits until every transaction on `address`'s ledger now (at `confirmed`) is finalized.
pub async fn finalized_history(chain: &Chain, address: &Pubkey) {
    let history = chainference_client::ledger::history_of(chain, address)
        .await
        .expect("the ledger answers");
    let newest = history
        .iter()
        .map(|transaction| transaction.slot)
        .max()
        .expect("the address has transactions");
    finalized(chain, newest).await;
}

/// Waits until `request`'s account is in a state `pick` accepts (and gives what it picks), for
/// at most `secs` of the node's time.
pub async fn request_where<T>(
    chain: &Chain,
    request: &Pubkey,
    secs: u64,
    what: &str,
    pick: impl Fn(Option<chainference::state::Request>) -> Option<T>,
) -> T {
    let pick = &pick;
    until(chain, secs, what, || async move {
        let account = chain.account(request, "Request").await.expect("read");
        pick(account)
    })
    .await
}
