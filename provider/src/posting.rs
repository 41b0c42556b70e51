//! How a provider's transactions are sent: the lookup table its appends load their fixed
//! accounts from, and the priority fee with the compute budget it buys.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use chainference_client::batcher::{TxShape, APPEND_COMPUTE_UNITS};
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_message::AddressLookupTableAccount;

/// The most compute units a transaction may ask for.
const MAX_COMPUTE_UNITS: u32 = 1_400_000;

/// How a provider's appends are sent.
#[derive(Clone, Debug)]
pub struct Posting {
    /// The lookup table holding the appends' fixed accounts and the provider's tree.
    pub table: AddressLookupTableAccount,
    /// Priority fee in micro-lamports per compute unit (0: none, and no compute-budget
    /// instructions).
    pub compute_unit_price: u64,
}

impl Posting {
    /// The shape of appends to `tree`: v0 through the table when it holds the tree (an older
    /// tree's appends go as legacy transactions).
    pub(crate) fn shape(&self, tree: &Pubkey) -> TxShape {
        let priced = self.compute_unit_price > 0;
        TxShape {
            versioned: self.table.addresses.contains(tree),
            compute_unit_limit: priced,
            compute_unit_price: priced,
        }
    }

    /// The lookup tables a transaction of `shape` loads.
    pub(crate) fn tables(&self, shape: &TxShape) -> &[AddressLookupTableAccount] {
        if shape.versioned {
            std::slice::from_ref(&self.table)
        } else {
            &[]
        }
    }

    /// The compute-budget instructions that go before each append.
    pub(crate) fn budget(&self) -> Vec<Instruction> {
        self.budget_for(1)
    }

    /// The compute-budget instructions before a transaction of `appends` appends.
    pub(crate) fn budget_for(&self, appends: usize) -> Vec<Instruction> {
        if self.compute_unit_price == 0 {
            return Vec::new();
        }
        let units = u32::try_from(appends)
            .unwrap_or(u32::MAX)
            .saturating_mul(APPEND_COMPUTE_UNITS)
            .min(MAX_COMPUTE_UNITS);
        vec![
            ComputeBudgetInstruction::set_compute_unit_limit(units),
            ComputeBudgetInstruction::set_compute_unit_price(self.compute_unit_price),
        ]
    }

    /// The lookup tables a transaction of roots loads (its trees' accounts from the provider's
    /// table where it holds them).
    pub(crate) fn root_tables(&self) -> &[AddressLookupTableAccount] {
        std::slice::from_ref(&self.table)
    }
}
