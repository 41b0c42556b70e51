//! The syscall-stub bridge.
//!
//! Natively, a program's syscalls go through a process-wide `SyscallStubs` object in its
//! `solana-sysvar` crate, whose default does nothing (`sol_invoke_signed() not available`, and
//! returns Ok). `solana-program-test` installs a real implementation into the 4.x static only,
//! while Anchor 1.2 calls through the 3.x one and spl-account-compression through the 2.x one.
//! [`install`] takes program-test's implementation and serves all three statics with it.

use base64::{prelude::BASE64_STANDARD, Engine};
use solana_program_v2 as v2;
use solana_sysvar_v3::program_stubs as v3;
use solana_sysvar_v4::program_stubs as v4;
use std::sync::{Arc, Once};

/// program-test's stubs, shared by the three bridges.
type Real = Arc<Box<dyn v4::SyscallStubs>>;

/// Installs the bridge once per process. Call it before the first transaction.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        capture_program_test_stubs();
        let real: Real = Arc::new(v4::set_syscall_stubs(Box::new(Unset)));
        v4::set_syscall_stubs(Box::new(V4(real.clone())));
        v3::set_syscall_stubs(Box::new(V3(real.clone())));
        v2::program_stubs::set_syscall_stubs(Box::new(V2(real)));
    });
}

/// program-test installs its stubs while it sets up its first bank; starting one costs well
/// under a second and is the only public way to reach them.
fn capture_program_test_stubs() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime builds");
    runtime.block_on(async {
        drop(solana_program_test::ProgramTest::default().start().await);
    });
    // program-test turns on debug logs of every instruction; keep RUST_LOG's choice, or warnings.
    agave_logger::setup_with_default("warn");
}

/// Placeholder while the real stubs move into their shared home.
struct Unset;
impl v4::SyscallStubs for Unset {}

/// The line a `sol_log_data` call leaves in the transaction log. Natively it is routed
/// through `sol_log`, so it reads `Program log: Program data: <base64> …`.
fn log_data_line(fields: &[&[u8]]) -> String {
    let encoded: Vec<String> = fields
        .iter()
        .map(|field| BASE64_STANDARD.encode(field))
        .collect();
    format!("Program data: {}", encoded.join(" "))
}

/// Implements a `SyscallStubs` trait whose types are those of solana-instruction 3.x and
/// solana-account-info 3.x (the 3.x and 4.x statics) by forwarding every call to `Real`.
macro_rules! forward_stubs {
    ($bridge:ident, $stubs:path) => {
        struct $bridge(Real);

        impl $stubs for $bridge {
            fn sol_log(&self, message: &str) {
                self.0.sol_log(message)
            }
            fn sol_log_compute_units(&self) {
                self.0.sol_log_compute_units()
            }
            fn sol_remaining_compute_units(&self) -> u64 {
                self.0.sol_remaining_compute_units()
            }
            fn sol_invoke_signed(
                &self,
                instruction: &anchor_lang::solana_program::instruction::Instruction,
                account_infos: &[anchor_lang::prelude::AccountInfo],
                signers_seeds: &[&[&[u8]]],
            ) -> anchor_lang::solana_program::entrypoint::ProgramResult {
                self.0
                    .sol_invoke_signed(instruction, account_infos, signers_seeds)
            }
            fn sol_get_sysvar(&self, id: *const u8, var: *mut u8, offset: u64, length: u64) -> u64 {
                self.0.sol_get_sysvar(id, var, offset, length)
            }
            fn sol_get_clock_sysvar(&self, var: *mut u8) -> u64 {
                self.0.sol_get_clock_sysvar(var)
            }
            fn sol_get_epoch_schedule_sysvar(&self, var: *mut u8) -> u64 {
                self.0.sol_get_epoch_schedule_sysvar(var)
            }
            fn sol_get_fees_sysvar(&self, var: *mut u8) -> u64 {
                self.0.sol_get_fees_sysvar(var)
            }
            fn sol_get_rent_sysvar(&self, var: *mut u8) -> u64 {
                self.0.sol_get_rent_sysvar(var)
            }
            fn sol_get_epoch_rewards_sysvar(&self, var: *mut u8) -> u64 {
                self.0.sol_get_epoch_rewards_sysvar(var)
            }
            fn sol_get_last_restart_slot(&self, var: *mut u8) -> u64 {
                self.0.sol_get_last_restart_slot(var)
            }
            fn sol_get_epoch_stake(&self, vote_address: *const u8) -> u64 {
                self.0.sol_get_epoch_stake(vote_address)
            }
            fn sol_get_return_data(&self) -> Option<(anchor_lang::prelude::Pubkey, Vec<u8>)> {
                self.0.sol_get_return_data()
            }
            fn sol_set_return_data(&self, data: &[u8]) {
                self.0.sol_set_return_data(data)
            }
            fn sol_log_data(&self, fields: &[&[u8]]) {
                self.0.sol_log(&log_data_line(fields))
            }
            fn sol_get_processed_sibling_instruction(
                &self,
                index: usize,
            ) -> Option<anchor_lang::solana_program::instruction::Instruction> {
                self.0.sol_get_processed_sibling_instruction(index)
            }
            fn sol_get_stack_height(&self) -> u64 {
                self.0.sol_get_stack_height()
            }
        }
    };
}

forward_stubs!(V4, v4::SyscallStubs);
forward_stubs!(V3, v3::SyscallStubs);

/// The 2.x bridge (spl-account-compression and its CPI into spl-noop): converts instructions
/// and account infos between the generations, which share their memory layout.
struct V2(Real);

impl v2::program_stubs::SyscallStubs for V2 {
    fn sol_log(&self, message: &str) {
        self.0.sol_log(message)
    }
    fn sol_invoke_signed(
        &self,
        instruction: &v2::instruction::Instruction,
        account_infos: &[v2::account_info::AccountInfo],
        signers_seeds: &[&[&[u8]]],
    ) -> v2::entrypoint::ProgramResult {
        let instruction = crate::builtins::instruction_from_v2(instruction);
        let account_infos: Vec<_> = account_infos
            .iter()
            .map(crate::builtins::account_from_v2)
            .collect();
        self.0
            .sol_invoke_signed(&instruction, &account_infos, signers_seeds)
            .map_err(|error| v2::program_error::ProgramError::from(u64::from(error)))
    }
    fn sol_get_sysvar(&self, id: *const u8, var: *mut u8, offset: u64, length: u64) -> u64 {
        self.0.sol_get_sysvar(id, var, offset, length)
    }
    fn sol_get_clock_sysvar(&self, var: *mut u8) -> u64 {
        self.0.sol_get_clock_sysvar(var)
    }
    fn sol_get_rent_sysvar(&self, var: *mut u8) -> u64 {
        self.0.sol_get_rent_sysvar(var)
    }
    fn sol_get_epoch_schedule_sysvar(&self, var: *mut u8) -> u64 {
        self.0.sol_get_epoch_schedule_sysvar(var)
    }
    fn sol_log_data(&self, fields: &[&[u8]]) {
        self.0.sol_log(&log_data_line(fields))
    }
    fn sol_get_stack_height(&self) -> u64 {
        self.0.sol_get_stack_height()
    }
}
