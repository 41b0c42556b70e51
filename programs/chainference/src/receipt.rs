//! The CPI into Light's system program that writes a [`Receipt`] as a compressed account
//! owned by this program: no address and no input accounts, so no validity proof. light-sdk
//! builds the instruction; Anchor's `invoke_signed` sends it, signed by our CPI authority PDA.
//!
//! Compute: a whole `close_request` with its receipt takes 80,209 CU on the sBPF build, most of
//! it Light's system program and account-compression appending to a v1 state tree (COMPUTE.md).

use crate::{compression::NOOP_PROGRAM_ID, error::ChainferenceError, state::Receipt};
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

/// The accounts the CPI into Light's system program takes, but the fee payer.
#[derive(Accounts)]
pub struct ReceiptWriter<'info> {
    /// CHECK: the Light state tree (v1) or output queue (v2) the receipt goes into, chosen by
    /// the closer; Light's account-compression program checks that it is one.
    #[account(mut)]
    pub state_tree: UncheckedAccount<'info>,
    /// CHECK: our PDA that signs for this program in Light's system program.
    #[account(address = CPI_AUTHORITY)]
    pub cpi_authority: UncheckedAccount<'info>,
    /// CHECK: Light's system program, checked by address.
    #[account(address = LIGHT_SYSTEM_PROGRAM)]
    pub light_system_program: UncheckedAccount<'info>,
    /// CHECK: Light's registration of its system program, checked by address.
    #[account(address = LIGHT_REGISTERED_PROGRAM)]
    pub registered_program: UncheckedAccount<'info>,
    /// CHECK: spl-noop, checked by address.
    #[account(address = NOOP_PROGRAM_ID)]
    pub noop_program: UncheckedAccount<'info>,
    /// CHECK: Light's account-compression authority PDA, checked by address.
    #[account(address = LIGHT_COMPRESSION_AUTHORITY)]
    pub compression_authority: UncheckedAccount<'info>,
    /// CHECK: Light's account-compression program, checked by address.
    #[account(address = LIGHT_COMPRESSION_PROGRAM)]
    pub compression_program: UncheckedAccount<'info>,
    /// CHECK: this program, which Light's system program names as the receipt's owner.
    #[account(address = crate::ID)]
    pub this_program: UncheckedAccount<'info>,
    /// The system program, which moves Light's fee.
    pub system_program: Program<'info, System>,
}

/// The receipt writer's accounts as a client names them, for a receipt into `state_tree`: all
/// the others are fixed.
pub fn receipt_writer_accounts(
    state_tree: Pubkey,
) -> __client_accounts_receipt_writer::ReceiptWriter {
    __client_accounts_receipt_writer::ReceiptWriter {
        state_tree,
        cpi_authority: CPI_AUTHORITY,
        light_system_program: LIGHT_SYSTEM_PROGRAM,
        registered_program: LIGHT_REGISTERED_PROGRAM,
        noop_program: NOOP_PROGRAM_ID,
        compression_authority: LIGHT_COMPRESSION_AUTHORITY,
        compression_program: LIGHT_COMPRESSION_PROGRAM,
        this_program: crate::ID,
        system_program: anchor_lang::system_program::ID,
    }
}

impl<'info> ReceiptWriter<'info> {
    /// Writes `receipt` into the state tree as a new compressed account; `fee_payer`, a signing
    /// system account, pays Light's fee.
    pub fn write(&self, fee_payer: &AccountInfo<'info>, receipt: Receipt) -> Result<()> {
        let mut account = LightAccount::<Receipt>::new_init(&crate::ID, None, 0);
        *account = receipt;
        let data = LightSystemProgramCpi::new_cpi(CPI_SIGNER, ValidityProof::default())
            .with_light_account(account)
            .map_err(|_| error!(ChainferenceError::ReceiptNotBuilt))?
            .data()
            .map_err(|_| error!(ChainferenceError::ReceiptNotBuilt))?;
        let state_tree = self.state_tree.to_account_info();
        let trees = [state_tree.clone()];
        let accounts = get_account_metas_from_config(CpiInstructionConfig {
            fee_payer: fee_payer.key(),
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
                fee_payer.clone(),
                self.cpi_authority.to_account_info(),
                self.registered_program.to_account_info(),
                self.noop_program.to_account_info(),
                self.compression_authority.to_account_info(),
                self.compression_program.to_account_info(),
                self.this_program.to_account_info(),
                self.light_system_program.to_account_info(),
                self.system_program.to_account_info(),
                state_tree,
            ],
            &[&[CPI_AUTHORITY_PDA_SEED, &[CPI_AUTHORITY_PDA.1]]],
        )?;
        Ok(())
    }
}
