//! Receipts ([`chainference_client_core::receipt`]), checked against their state tree as the
//! cluster holds it now.

use crate::rpc::{Chain, ChainError};
use chainference::receipt::LIGHT_COMPRESSION_PROGRAM;
pub use chainference_client_core::receipt::*;
use solana_commitment_config::CommitmentConfig;

impl Chain {
    /// Checks `receipt` against its state tree as the cluster holds it now: the verdict, once
    /// the tree could be read.
    pub async fn check_receipt(
        &self,
        receipt: &WrittenReceipt,
    ) -> Result<Result<ReceiptLeaf, ReceiptError>, ChainError> {
        let tree = receipt.tree;
        let account = self
            .call(|rpc| async move {
                rpc.get_account_with_commitment(&tree, CommitmentConfig::confirmed())
                    .await
            })
            .await?
            .value;
        Ok(match account {
            Some(account) if account.owner == LIGHT_COMPRESSION_PROGRAM => {
                receipt.check_in(&account.data)
            }
            _ => Err(ReceiptError::NotAV1Tree(tree)),
        })
    }
}
