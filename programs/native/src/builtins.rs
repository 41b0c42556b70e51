//! Each hosted program's entrypoint in the runtime's builtin form
//! (`fn(&Pubkey, &[AccountInfo], &[u8]) -> ProgramResult`, solana 3.x types), and the
//! conversions between the 2.x types spl-account-compression is built on and the 3.x ones.
//! Both generations lay out a key as 32 bytes and share the `Rc<RefCell<…>>` cells of an
//! account's lamports and data, so a converted account info aliases the original.

use anchor_lang::prelude::{AccountInfo, AccountMeta, ProgramError, Pubkey};
use anchor_lang::solana_program::{entrypoint::ProgramResult, instruction::Instruction};
use chainference::compression::{COMPRESSION_PROGRAM_ID, NOOP_PROGRAM_ID};
use solana_program_runtime::invoke_context::BuiltinFunctionRegisterer;
use solana_program_v2 as v2;

/// The three programs a local runtime hosts: id, name and the runtime's registration function.
pub fn all() -> Vec<(Pubkey, &'static str, BuiltinFunctionRegisterer)> {
    let mut builtins = Vec::with_capacity(3);
    // Each `processor!` expands to its own type: each is cast to the common function pointer.
    if let Some(register) = solana_program_test::processor!(chainference) {
        builtins.push((
            chainference::ID,
            "chainference",
            register as BuiltinFunctionRegisterer,
        ));
    }
    if let Some(register) = solana_program_test::processor!(account_compression) {
        builtins.push((
            COMPRESSION_PROGRAM_ID,
            "spl_account_compression",
            register as BuiltinFunctionRegisterer,
        ));
    }
    if let Some(register) = solana_program_test::processor!(noop) {
        builtins.push((
            NOOP_PROGRAM_ID,
            "spl_noop",
            register as BuiltinFunctionRegisterer,
        ));
    }
    builtins
}

/// Chainference's Anchor entrypoint.
pub fn chainference(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    // SAFETY: only lifetimes change. Anchor's entry ties the slice's lifetime to the accounts';
    // the runtime keeps both alive for the whole call.
    let accounts: &[AccountInfo] = unsafe { std::mem::transmute(accounts) };
    chainference::entry(program_id, accounts, data)
}

/// spl-account-compression's entrypoint (solana 2.x).
pub fn account_compression(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    let accounts: Vec<_> = accounts.iter().map(account_to_v2).collect();
    // SAFETY: as above, only lifetimes change.
    let accounts: &[v2::account_info::AccountInfo] =
        unsafe { std::mem::transmute(accounts.as_slice()) };
    spl_account_compression::entry(key_to_v2(program_id), accounts, data).map_err(error_from_v2)
}

/// spl-noop's entrypoint (solana 2.x).
pub fn noop(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    let accounts: Vec<_> = accounts.iter().map(account_to_v2).collect();
    spl_noop::noop(key_to_v2(program_id), &accounts, data).map_err(error_from_v2)
}

fn key_to_v2(key: &Pubkey) -> &v2::pubkey::Pubkey {
    // SAFETY: both are `#[repr(transparent)]` wrappers of `[u8; 32]`.
    unsafe { &*(key as *const Pubkey as *const v2::pubkey::Pubkey) }
}

fn key_from_v2(key: &v2::pubkey::Pubkey) -> &Pubkey {
    // SAFETY: both are `#[repr(transparent)]` wrappers of `[u8; 32]`.
    unsafe { &*(key as *const v2::pubkey::Pubkey as *const Pubkey) }
}

fn error_from_v2(error: v2::program_error::ProgramError) -> ProgramError {
    ProgramError::from(u64::from(error))
}

/// A 2.x view of `account` sharing its lamports and data.
pub fn account_to_v2<'a>(account: &AccountInfo<'a>) -> v2::account_info::AccountInfo<'a> {
    v2::account_info::AccountInfo {
        key: key_to_v2(account.key),
        lamports: account.lamports.clone(),
        data: account.data.clone(),
        owner: key_to_v2(account.owner),
        rent_epoch: u64::MAX,
        is_signer: account.is_signer,
        is_writable: account.is_writable,
        executable: account.executable,
    }
}

/// A 3.x view of a 2.x `account` sharing its lamports and data.
#[allow(deprecated)] // `_unused` must be named to build the struct
pub fn account_from_v2<'a>(account: &v2::account_info::AccountInfo<'a>) -> AccountInfo<'a> {
    AccountInfo {
        key: key_from_v2(account.key),
        lamports: account.lamports.clone(),
        data: account.data.clone(),
        owner: key_from_v2(account.owner),
        _unused: 0,
        is_signer: account.is_signer,
        is_writable: account.is_writable,
        executable: account.executable,
    }
}

/// A 3.x copy of a 2.x instruction.
pub fn instruction_from_v2(instruction: &v2::instruction::Instruction) -> Instruction {
    Instruction {
        program_id: *key_from_v2(&instruction.program_id),
        accounts: instruction
            .accounts
            .iter()
            .map(|meta| AccountMeta {
                pubkey: *key_from_v2(&meta.pubkey),
                is_signer: meta.is_signer,
                is_writable: meta.is_writable,
            })
            .collect(),
        data: instruction.data.clone(),
    }
}
