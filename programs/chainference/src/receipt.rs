//! The CPI into Light's system program that writes a [`Receipt`] as a compressed account
//! owned by this program: no address and no input accounts, so no validity proof. light-sdk
//! builds the instruction; Anchor's `invoke_signed` sends it, signed by our CPI authority PDA.
//!
//! Compute: a whole `close_request` with its receipt takes 80,413 CU on the sBPF build, most of
//! it Light's system program and account-compression appending to a v1 state tree (COMPUTE.md).

use crate::{error::ChainferenceError, state::Receipt};
use anchor_lang::prelude::*;
use anchor_lang::solana_program::{instruction::Instruction, program::invoke_signed};
use light_sdk::constants::{
    ACCOUNT_COMPRESSION_AUTHORITY_PDA, ACCOUNT_COMPRESSION_PROGRAM_ID, CPI_AUTHORITY_PDA_SEED,
    LIGHT_SYSTEM_PROGRAM_ID, REGISTERED_PROGRAM_PDA,
};
use light_sdk::cpi::v1::lowlevel::{get_account_metas_from_config, CpiInstructionConfig};
use light_sdk::cpi::v1::LightSystemProgramCpi;
use light_sdk::cpi::{LightCpiInstruction, LightInstructionData};
use light_sdk::instruction::ValidityProof;
use light_sdk::{CpiSigner, LightAccount};

/// Light's system program (the same id on devnet and mainnet).
pub const LIGHT_SYSTEM_PROGRAM: Pubkey = Pubkey::new_from_array(LIGHT_SYSTEM_PROGRAM_ID);
/// Light's account-compression program, which owns the state trees.
pub const LIGHT_COMPRESSION_PROGRAM: Pubkey =
    Pubkey::new_from_array(ACCOUNT_COMPRESSION_PROGRAM_ID);
/// The PDA that registers Light's system program with account-compression.
pub const LIGHT_REGISTERED_PROGRAM: Pubkey = Pubkey::new_from_array(REGISTERED_PROGRAM_PDA);
/// account-compression's authority PDA, which Light's system program signs with.
pub const LIGHT_COMPRESSION_AUTHORITY: Pubkey =
    Pubkey::new_from_array(ACCOUNT_COMPRESSION_AUTHORITY_PDA);

/// Our CPI authority PDA (`["cpi_authority"]`) and its bump, derived at compile time.
const CPI_AUTHORITY_PDA: ([u8; 32], u8) =
    anchor_lang::derive_program_address(&[CPI_AUTHORITY_PDA_SEED], &crate::ID.to_bytes());
/// The PDA that signs for this program in Light's system program.
pub const CPI_AUTHORITY: Pubkey = Pubkey::new_from_array(CPI_AUTHORITY_PDA.0);
/// This program as light-sdk names a CPI caller.
const CPI_SIGNER: CpiSigner = CpiSigner {
    program_id: crate::ID.to_bytes(),
    cpi_signer: CPI_AUTHORITY_PDA.0,
    bump: CPI_AUTHORITY_PDA.1,
};

/// The most lamports Light may take from the closer for one receipt (its v1 trees charge a
/// 300-lamport rollover fee, its v2 queues 5,001); the request's rent pays it back.
#[constant]
pub const MAX_RECEIPT_FEE: u64 = 10_000;

/// The accounts the CPI into Light's system program takes.
pub struct LightAccounts<'a, 'info> {
    /// Pays Light's fee: a signing system account.
    pub fee_payer: &'a AccountInfo<'info>,
    /// The state tree (v1) or output queue (v2) the receipt goes into.
    pub state_tree: &'a AccountInfo<'info>,
    /// [`CPI_AUTHORITY`].
    pub cpi_authority: &'a AccountInfo<'info>,
    /// [`LIGHT_SYSTEM_PROGRAM`].
    pub light_system_program: &'a AccountInfo<'info>,
    /// [`LIGHT_REGISTERED_PROGRAM`].
    pub registered_program: &'a AccountInfo<'info>,
    /// spl-noop.
    pub noop_program: &'a AccountInfo<'info>,
    /// [`LIGHT_COMPRESSION_AUTHORITY`].
    pub compression_authority: &'a AccountInfo<'info>,
    /// [`LIGHT_COMPRESSION_PROGRAM`].
    pub compression_program: &'a AccountInfo<'info>,
    /// This program.
    pub this_program: &'a AccountInfo<'info>,
    /// The system program.
    pub system_program: &'a AccountInfo<'info>,
}

impl LightAccounts<'_, '_> {
    /// Writes `receipt` into the state tree as a new compressed account.
    pub fn write(&self, receipt: Receipt) -> Result<()> {
        let mut account = LightAccount::<Receipt>::new_init(&crate::ID, None, 0);
        *account = receipt;
        let data = LightSystemProgramCpi::new_cpi(CPI_SIGNER, ValidityProof::default())
            .with_light_account(account)
            .map_err(|_| error!(ChainferenceError::ReceiptNotBuilt))?
            .data()
            .map_err(|_| error!(ChainferenceError::ReceiptNotBuilt))?;
        let trees = [self.state_tree.clone()];
        let accounts = get_account_metas_from_config(CpiInstructionConfig {
            fee_payer: self.fee_payer.key(),
            cpi_signer: CPI_AUTHORITY,
            invoking_program: crate::ID,
            sol_pool_pda_pubkey: None,
            sol_compression_recipient_pubkey: None,
            cpi_context_pubkey: None,
            packed_accounts: &trees,
        });
        let instruction = Instruction {
            program_id: LIGHT_SYSTEM_PROGRAM,
            accounts,
            data,
        };
        invoke_signed(
            &instruction,
            &[
                self.fee_payer.clone(),
                self.cpi_authority.clone(),
                self.registered_program.clone(),
                self.noop_program.clone(),
                self.compression_authority.clone(),
                self.compression_program.clone(),
                self.this_program.clone(),
                self.light_system_program.clone(),
                self.system_program.clone(),
                self.state_tree.clone(),
            ],
            &[&[CPI_AUTHORITY_PDA_SEED, &[CPI_AUTHORITY_PDA.1]]],
        )?;
        Ok(())
    }
}
