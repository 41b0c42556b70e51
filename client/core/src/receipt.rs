//! Receipts: the Light compressed account `close_request` writes for each finished request.
//! A receipt is read back from the closing transaction itself (the data of our CPI into
//! Light's system program, from `getTransaction`; no indexer), and checked: its data against
//! the data hash the leaf commits to, and the leaf (the compressed account's Poseidon hash)
//! against the state tree's change log, where Light's account-compression keeps the paths of
//! its latest 1,400 appends.

use anchor_lang::prelude::{pubkey, Pubkey};
use anchor_lang::AnchorDeserialize;
use chainference::receipt::LIGHT_SYSTEM_PROGRAM;
use chainference::state::Receipt;
use light_concurrent_merkle_tree::zero_copy::ConcurrentMerkleTreeZeroCopy;
use light_hasher::{Hasher, Poseidon, Sha256};
use light_sdk::LightDiscriminator as _;
use light_sdk_types::lca::compressed_account::CompressedAccount;
use light_sdk_types::lca::discriminators::DISCRIMINATOR_INVOKE_CPI;
use light_sdk_types::lca::instruction_data::invoke_cpi::InstructionDataInvokeCpi;

/// Light's public v1 state trees (the same on devnet, mainnet and the local chain), in the
/// order `close` tries them.
pub const V1_STATE_TREES: [Pubkey; 2] = [
    pubkey!("smt1NamzXdq4AMqS2fS2F1i5KTYPZRhoHgWx38d8WsT"),
    pubkey!("smt2rJAFdyJJupwMKAqTNAJwvjhmiZ4JYGZmbVRw1Ho"),
];

/// Height of Light's v1 state trees.
const V1_TREE_HEIGHT: usize = 26;
/// Anchor discriminator of account-compression's `StateMerkleTreeAccount` (a v1 state tree).
const V1_TREE_DISCRIMINATOR: [u8; 8] = [172, 43, 172, 186, 29, 73, 219, 84];
/// Bytes before the concurrent Merkle tree in a v1 state tree account: the discriminator and
/// the tree's metadata (access 96, rollover 56, queue and next tree 64).
const V1_TREE_OFFSET: usize = 8 + 216;
/// Accounts before the trees in Light's `invoke_cpi`: the fee payer, then its ten system
/// accounts (optional ones filled by the system program's id).
const INVOKE_CPI_FIXED_ACCOUNTS: usize = 11;

/// Why a receipt does not check.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiptError {
    /// The receipt's data does not hash to what its leaf commits to.
    #[error("the receipt's data does not match the data hash its leaf commits to: it was altered")]
    DataAltered,
    /// The state tree's account is not a Light v1 state tree.
    #[error("{0} is not a Light v1 state tree: this client checks receipts in v1 trees only")]
    NotAV1Tree(Pubkey),
    /// No leaf of the tree's change log is this receipt.
    #[error("no leaf in the change log of state tree {0} is this receipt: it was altered, or it is older than the tree's last 1,400 appends (checking it then needs an indexer's proof)")]
    NotInTree(Pubkey),
}

/// A receipt as its closing transaction wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct WrittenReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The state tree (or output queue) it went into.
    pub tree: Pubkey,
    /// The compressed account as written: owner, lamports and the data with its hash.
    pub account: CompressedAccount,
}

/// Where a receipt's leaf was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiptLeaf {
    /// The state tree.
    pub tree: Pubkey,
    /// The leaf's index in it.
    pub leaf_index: u32,
    /// The leaf: the compressed account's hash.
    pub hash: [u8; 32],
}

impl WrittenReceipt {
    /// The receipt in an instruction to Light's system program (`data`, naming `accounts`),
    /// if it is an `invoke_cpi` that writes a receipt owned by our program. Light's system
    /// program only lets a program write accounts it owns, so an owner of ours means our
    /// program wrote it.
    pub fn from_instruction(program: &Pubkey, data: &[u8], accounts: &[Pubkey]) -> Option<Self> {
        if *program != LIGHT_SYSTEM_PROGRAM || data.get(..8)? != DISCRIMINATOR_INVOKE_CPI {
            return None;
        }
        let invoke = InstructionDataInvokeCpi::deserialize(&mut data.get(12..)?).ok()?;
        invoke.output_compressed_accounts.iter().find_map(|output| {
            let account = &output.compressed_account;
            let written = account.data.as_ref()?;
            if account.owner.to_bytes() != chainference::ID.to_bytes()
                || written.discriminator != Receipt::LIGHT_DISCRIMINATOR
            {
                return None;
            }
            let receipt = Receipt::deserialize(&mut written.data.as_slice()).ok()?;
            let tree =
                *accounts.get(INVOKE_CPI_FIXED_ACCOUNTS + usize::from(output.merkle_tree_index))?;
            Some(Self {
                receipt,
                tree,
                account: account.clone(),
            })
        })
    }

    /// The compressed account this receipt's data makes (what a leaf would commit to).
    fn compressed_account(&self) -> Result<CompressedAccount, ReceiptError> {
        let mut account = self.account.clone();
        let written = account.data.as_mut().ok_or(ReceiptError::DataAltered)?;
        written.data = anchor_lang::prelude::borsh::to_vec(&self.receipt)
            .map_err(|_| ReceiptError::DataAltered)?;
        if data_hash(&written.data) != written.data_hash {
            return Err(ReceiptError::DataAltered);
        }
        Ok(account)
    }

    /// Checks the receipt against the state tree's account data: its data against its data
    /// hash, then its leaf against the tree's change log.
    pub fn check_in(&self, tree_account: &[u8]) -> Result<ReceiptLeaf, ReceiptError> {
        let account = self.compressed_account()?;
        let not_v1 = || ReceiptError::NotAV1Tree(self.tree);
        if tree_account.get(..8) != Some(V1_TREE_DISCRIMINATOR.as_slice()) {
            return Err(not_v1());
        }
        let bytes = tree_account.get(V1_TREE_OFFSET..).ok_or_else(not_v1)?;
        let tree =
            ConcurrentMerkleTreeZeroCopy::<Poseidon, V1_TREE_HEIGHT>::from_bytes_zero_copy(bytes)
                .map_err(|_| not_v1())?;
        let tree_key = light_sdk_types::lca::Pubkey::from(self.tree.to_bytes());
        // Newest first: a receipt just written is found at once.
        let changelog = &tree.changelog;
        let len = changelog.len();
        (0..len)
            .filter_map(|back| changelog.get((changelog.last_index() + len - back) % len))
            .find_map(|entry| {
                let leaf_index = u32::try_from(entry.index).ok()?;
                let leaf = entry.path[0]?;
                let hash = account.hash(&tree_key, &leaf_index, false).ok()?;
                (hash == leaf).then_some(ReceiptLeaf {
                    tree: self.tree,
                    leaf_index,
                    hash,
                })
            })
            .ok_or(ReceiptError::NotInTree(self.tree))
    }
}

/// Light's SHA-256 data hash: the digest with its first byte zeroed, so it fits the BN254
/// field the leaf's Poseidon hash is over.
pub fn data_hash(data: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::hash(data).unwrap_or_default();
    hash[0] = 0;
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn the_v1_tree_discriminator_is_anchors() {
        let digest = sha2::Sha256::digest(b"account:StateMerkleTreeAccount");
        assert_eq!(digest[..8], V1_TREE_DISCRIMINATOR);
    }

    #[test]
    fn the_data_hash_is_sha256_with_its_first_byte_zeroed() {
        let digest = sha2::Sha256::digest(b"receipt");
        let hash = data_hash(b"receipt");
        assert_eq!(hash[0], 0);
        assert_eq!(hash[1..], digest[1..]);
    }
}
