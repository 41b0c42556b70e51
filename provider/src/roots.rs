//! Direct answers' roots of several requests in one transaction: every job hands its next
//! root here and waits for it to be confirmed (so each request still has one append in
//! flight), and whatever roots queue while a transaction is in flight go out together in the
//! next one, as many as fit in a packet. One signature then pays for the roots of every
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

    /// Sends `append` (an `append_root`) with whatever other roots are waiting, and returns
    /// once its transaction is confirmed.
    pub async fn post(&self, append: Instruction) -> Result<(), ChainError> {
        let (confirmed, done) = oneshot::channel();
        self.sender
            .send(Pending { append, confirmed })
            .map_err(|_| ChainError::Build("the provider is stopping".into()))?;
        done.await
            .map_err(|_| ChainError::Build("the provider is stopping".into()))?
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

/// The roots at the front of `queue` that fit in one transaction (at least one).
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
        if taken.len() > 1 && !size.is_ok_and(|size| size <= PACKET_DATA_SIZE) {
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
