//! Direct answers' roots of several requests in one transaction: every job hands its roots
//! here and waits for them to be confirmed, and whatever roots queue while a transaction is in
//! flight go out together in the next one, as many as fit in a packet and in the log
//! ([`MAX_ROOTS_A_TRANSACTION`]). One signature then pays for the roots of every
//! request that posted meanwhile. If a shared transaction is refused, each of its roots is
//! sent alone, so one request's refusal names that request only.

use crate::posting::Posting;
use anchor_lang::solana_program::instruction::Instruction;
use chainference_client::batcher::PACKET_DATA_SIZE;
use chainference_client::rpc::{transaction_size, Chain, ChainError};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most roots one transaction carries: each logs its `RootBatch` event with the leaf's proof,
/// and a cluster cuts a transaction's log at 10,000 bytes, which would lose the events an
/// audit reads. Measured on depth-14 trees: an 8-root transaction kept 6 events; a root's log
/// grows by about 43 bytes a level of depth (its proof, in base64), so 4 (with a completion
/// beside them) stay whole at the provider's default depth of 24 and beyond.
pub const MAX_ROOTS_A_TRANSACTION: usize = 4;

/// One root waiting to be sent.
struct Pending {
    append: Instruction,
    confirmed: oneshot::Sender<Result<(), ChainError>>,
}

/// Where jobs hand their roots.
#[derive(Clone)]
pub struct RootPoster {
    sender: mpsc::UnboundedSender<Pending>,
}

impl RootPoster {
    /// A poster, and the loop that sends its roots (run it for as long as jobs post).
    pub fn new(
        chain: Chain,
        operator: Arc<Keypair>,
        posting: Arc<Posting>,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (
            Self { sender },
            send_roots(chain, operator, posting, receiver),
        )
    }

    /// Sends `appends` (`append_root`s, in order) with whatever other roots are waiting, as
    /// few transactions as they fit in, and returns once all are confirmed.
    pub async fn post_all(&self, appends: Vec<Instruction>) -> Result<(), ChainError> {
        let stopping = || ChainError::Build("the provider is stopping".into());
        let mut waiting = Vec::with_capacity(appends.len());
        for append in appends {
            let (confirmed, done) = oneshot::channel();
            self.sender
                .send(Pending { append, confirmed })
                .map_err(|_| stopping())?;
            waiting.push(done);
        }
        for done in waiting {
            done.await.map_err(|_| stopping())??;
        }
        Ok(())
    }
}

/// Sends the queued roots, as many a transaction as fit, until every poster is dropped.
async fn send_roots(
    chain: Chain,
    operator: Arc<Keypair>,
    posting: Arc<Posting>,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
) {
    let mut queue: VecDeque<Pending> = VecDeque::new();
    loop {
        if queue.is_empty() {
            match receiver.recv().await {
                Some(pending) => queue.push_back(pending),
                None => return,
            }
        }
        while let Ok(pending) = receiver.try_recv() {
            queue.push_back(pending);
        }
        let mut taken = take_fitting(&mut queue, &operator, &posting);
        let instructions = with_budget(&posting, &taken);
        let sent = chain
            .send_watched(
                &instructions,
                &operator,
                &[],
                posting.root_tables(),
                |_| async {},
            )
            .await;
        match sent {
            Ok(_) => {
                tracing::debug!(roots = taken.len(), "roots confirmed");
                for pending in taken {
                    let _ = pending.confirmed.send(Ok(()));
                }
            }
            Err(error) if taken.len() == 1 => {
                if let Some(pending) = taken.pop() {
                    let _ = pending.confirmed.send(Err(error));
                }
            }
            Err(error) => {
                tracing::debug!(%error, roots = taken.len(), "a shared root transaction was refused; sending each alone");
                for pending in taken {
                    let alone = with_budget(&posting, std::slice::from_ref(&pending));
                    let sent = chain
                        .send_watched(&alone, &operator, &[], posting.root_tables(), |_| async {})
                        .await;
                    let _ = pending.confirmed.send(sent.map(|_| ()));
                }
            }
        }
    }
}

/// The roots at the front of `queue` that fit in one transaction, at most
/// [`MAX_ROOTS_A_TRANSACTION`] (at least one).
fn take_fitting(
    queue: &mut VecDeque<Pending>,
    operator: &Keypair,
    posting: &Posting,
) -> Vec<Pending> {
    let mut taken: Vec<Pending> = Vec::new();
    while let Some(next) = queue.pop_front() {
        taken.push(next);
        let size = transaction_size(
            &operator.pubkey(),
            &with_budget(posting, &taken),
            posting.root_tables(),
        );
        let over = taken.len() > MAX_ROOTS_A_TRANSACTION
            || !size.is_ok_and(|size| size <= PACKET_DATA_SIZE);
        if taken.len() > 1 && over {
            if let Some(back) = taken.pop() {
                queue.push_front(back);
            }
            break;
        }
    }
    taken
}

/// The compute-budget instructions for `roots`, then their appends.
fn with_budget(posting: &Posting, roots: &[Pending]) -> Vec<Instruction> {
    let mut instructions = posting.budget_for(roots.len());
    instructions.extend(roots.iter().map(|pending| pending.append.clone()));
    instructions
}
