//! spl-account-compression's change-log event, as it reaches the ledger: the data of its CPI
//! into spl-noop, an inner instruction of the append's transaction.

use crate::core::Hash;

/// One append's (or initialization's) change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeLog {
    /// The tree account.
    pub tree: [u8; 32],
    /// The nodes from the changed leaf up to and including the new root.
    pub path: Vec<Hash>,
    /// The tree's count of successful operations.
    pub seq: u64,
    /// The changed leaf's index.
    pub leaf_index: u32,
}

impl ChangeLog {
    /// The tree's root after the change.
    pub fn root(&self) -> Option<&Hash> {
        self.path.last()
    }

    /// The changed leaf.
    pub fn leaf(&self) -> Option<&Hash> {
        self.path.first()
    }
}

/// Why noop data is not a change log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeLogError {
    /// The data is application data or another event.
    #[error("not a V1 change-log event")]
    NotAChangeLog,
    /// The data ends early or has bytes left over.
    #[error("a truncated or overlong change-log event")]
    Malformed,
}

/// Parses the borsh `AccountCompressionEvent::ChangeLog(ChangeLogEvent::V1 { id, path, seq,
/// index })` that spl-account-compression passes to spl-noop.
pub fn parse_change_log(data: &[u8]) -> Result<ChangeLog, ChangeLogError> {
    let mut reader = Reader(data);
    if reader.take::<2>()? != [0, 0] {
        return Err(ChangeLogError::NotAChangeLog);
    }
    let tree = reader.take::<32>()?;
    let nodes = u32::from_le_bytes(reader.take()?);
    let mut path = Vec::with_capacity(nodes.min(64) as usize);
    for _ in 0..nodes {
        path.push(reader.take::<32>()?);
        reader.take::<4>()?; // the node's index in the tree, implied by the leaf index
    }
    let seq = u64::from_le_bytes(reader.take()?);
    let leaf_index = u32::from_le_bytes(reader.take()?);
    if !reader.0.is_empty() {
        return Err(ChangeLogError::Malformed);
    }
    Ok(ChangeLog {
        tree,
        path,
        seq,
        leaf_index,
    })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ChangeLogError> {
        let (head, rest) = self
            .0
            .split_at_checked(N)
            .ok_or(ChangeLogError::Malformed)?;
        self.0 = rest;
        head.try_into().map_err(|_| ChangeLogError::Malformed)
    }
}
