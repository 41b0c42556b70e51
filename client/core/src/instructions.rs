//! Instruction builders.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use anchor_lang::{InstructionData, ToAccountMetas};
use chainference::compression::{tree_account_len, COMPRESSION_PROGRAM_ID, TREE_WRITER_ACCOUNTS};
use chainference::pda::{
    client_address, config_address, request_address, server_address, treasury_address,
};
use chainference::receipt::receipt_writer_accounts;
use chainference::state::{ConfigParams, Request, RequestState, RequestTerms, ServerParams};
use chainference_prover::bundle::Chunk;
use chainference_prover::core::{Acknowledgement, RootClaim, Scope};

/// The compute-budget program.
pub const COMPUTE_BUDGET_PROGRAM_ID: Pubkey =
    anchor_lang::pubkey!("ComputeBudget111111111111111111111111111111");

/// An instruction of our program.
fn ours(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: chainference::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

/// Where a signature about `request` counts: this program on the cluster whose genesis hash is
/// `cluster` (what acknowledgements and per-request keys are signed in).
pub fn scope(cluster: &[u8; 32], request: &Pubkey) -> Scope {
    Scope {
        program: chainference::ID.to_bytes(),
        cluster: *cluster,
        request: request.to_bytes(),
    }
}

/// `initialize_config` by `admin` (the key compiled into the program) for the cluster whose
/// genesis hash is `cluster`.
pub fn initialize_config(admin: &Pubkey, params: ConfigParams, cluster: [u8; 32]) -> Instruction {
    let accounts = chainference::accounts::InitializeConfig {
        admin: *admin,
        config: config_address(),
        treasury: treasury_address(),
        system_program: anchor_lang::system_program::ID,
    };
    ours(
        accounts,
        chainference::instruction::InitializeConfig { params, cluster },
    )
}

/// `register_server` for `operator`.
pub fn register_server(operator: &Pubkey, params: ServerParams) -> Instruction {
    let accounts = chainference::accounts::RegisterServer {
        operator: *operator,
        server: server_address(operator),
        system_program: anchor_lang::system_program::ID,
    };
    ours(
        accounts,
        chainference::instruction::RegisterServer { params },
    )
}

/// `update_server`: `operator`'s new models, prices, endpoint and concurrency.
pub fn update_server(operator: &Pubkey, params: ServerParams) -> Instruction {
    let accounts = chainference::accounts::UpdateServer {
        operator: *operator,
        server: server_address(operator),
    };
    ours(accounts, chainference::instruction::UpdateServer { params })
}

/// `create_request`: `client`'s request number `nonce` (its counter's next), escrowing
/// `stake` lamports.
pub fn create_request(client: &Pubkey, nonce: u64, stake: u64, terms: RequestTerms) -> Instruction {
    let accounts = chainference::accounts::CreateRequest {
        client: *client,
        client_counter: client_address(client),
        request: request_address(client, nonce),
        config: config_address(),
        system_program: anchor_lang::system_program::ID,
    };
    ours(
        accounts,
        chainference::instruction::CreateRequest {
            nonce,
            stake,
            terms,
        },
    )
}

/// `cancel_request` by its client, while it is open.
pub fn cancel_request(client: &Pubkey, request: &Pubkey) -> Instruction {
    let accounts = chainference::accounts::CancelRequest {
        client: *client,
        request: *request,
    };
    ours(accounts, chainference::instruction::CancelRequest {})
}

/// `lock_request` by `operator`'s server, answering into `tree` with the weights its offer pins
/// (`weights_sha256`), with its per-request key and the operator's `key_signature` of it in
/// `scope` ([`Scope::key_message`]): the ed25519 precompile's instruction that verifies the
/// signature, then the lock, which reads it.
pub fn lock_request(
    operator: &Pubkey,
    scope: &Scope,
    tree: &Pubkey,
    server_key: [u8; 32],
    weights_sha256: [u8; 32],
    key_signature: &[u8; 64],
) -> [Instruction; 2] {
    let request = Pubkey::new_from_array(scope.request);
    let accounts = chainference::accounts::LockRequest {
        operator: *operator,
        server: server_address(operator),
        request,
        tree: *tree,
        config: config_address(),
        instructions: solana_instructions_sysvar::ID,
        system_program: anchor_lang::system_program::ID,
    };
    [
        solana_ed25519_program::new_ed25519_instruction_with_signature(
            &scope.key_message(&server_key),
            key_signature,
            &operator.to_bytes(),
        ),
        ours(
            accounts,
            chainference::instruction::LockRequest {
                server_key,
                weights_sha256,
            },
        ),
    ]
}

/// `submit_prompt`: one piece of the sealed prompt; `seal` on the last.
pub fn submit_prompt(
    client: &Pubkey,
    request: &Pubkey,
    ciphertext: Vec<u8>,
    seal: bool,
) -> Instruction {
    let accounts = chainference::accounts::SubmitPrompt {
        client: *client,
        request: *request,
    };
    ours(
        accounts,
        chainference::instruction::SubmitPrompt { ciphertext, seal },
    )
}

/// `complete_request` by the locking operator of `request` (whose account is `locked`).
pub fn complete_request(request: &Pubkey, locked: &Request) -> Instruction {
    let accounts = chainference::accounts::CompleteRequest {
        operator: locked.lock.operator,
        request: *request,
        server: locked.lock.server,
        client: locked.client,
        client_account: client_address(&locked.client),
        treasury: treasury_address(),
        config: config_address(),
        instructions: solana_instructions_sysvar::ID,
    };
    ours(accounts, chainference::instruction::CompleteRequest {})
}

/// The ed25519 precompile's instruction verifying the client's `signature` of `ack` in
/// `scope`: it goes right before `complete_request` of a direct answer.
pub fn acknowledgement(
    scope: &Scope,
    client: &Pubkey,
    ack: &Acknowledgement,
    signature: &[u8; 64],
) -> Instruction {
    solana_ed25519_program::new_ed25519_instruction_with_signature(
        &ack.message(scope),
        signature,
        &client.to_bytes(),
    )
}

/// `flag_response` by the client of the completed `request` (whose account is `completed`).
pub fn flag_response(request: &Pubkey, completed: &Request) -> Instruction {
    let accounts = chainference::accounts::FlagResponse {
        client: completed.client,
        request: *request,
        server: completed.lock.server,
    };
    ours(accounts, chainference::instruction::FlagResponse {})
}

/// `record_comparison` by the client of two completed requests answered by two servers:
/// `first_preferred` says which answer the client preferred.
pub fn record_comparison(
    first: (&Pubkey, &Request),
    second: (&Pubkey, &Request),
    first_preferred: bool,
) -> Instruction {
    let accounts = chainference::accounts::RecordComparison {
        client: first.1.client,
        first: *first.0,
        second: *second.0,
        first_server: first.1.lock.server,
        second_server: second.1.lock.server,
        config: config_address(),
    };
    ours(
        accounts,
        chainference::instruction::RecordComparison { first_preferred },
    )
}

/// `expire_request` (anyone may send it), naming the server and operator once it was locked.
pub fn expire_request(request: &Pubkey, state: &Request) -> Instruction {
    let locked = state.state != RequestState::Open;
    let accounts = chainference::accounts::ExpireRequest {
        request: *request,
        client: state.client,
        client_account: client_address(&state.client),
        server: locked.then_some(state.lock.server),
        operator: locked.then_some(state.lock.operator),
    };
    ours(accounts, chainference::instruction::ExpireRequest {})
}

/// `close_request` by `closer` (anyone; it pays Light's fee and gets it back from the rent) of
/// the completed `request` of `client`, its receipt written into the Light `state_tree`.
pub fn close_request(
    closer: &Pubkey,
    request: &Pubkey,
    client: &Pubkey,
    state_tree: &Pubkey,
) -> Instruction {
    let accounts = chainference::accounts::CloseRequest {
        request: *request,
        client: *client,
        client_account: client_address(client),
        closer: *closer,
        receipt_writer: receipt_writer_accounts(*state_tree),
    };
    ours(accounts, chainference::instruction::CloseRequest {})
}

/// `withdraw_client_funds`: `wallet` sends the refunds its wallet could not take to
/// `destination`.
pub fn withdraw_client_funds(wallet: &Pubkey, destination: &Pubkey) -> Instruction {
    let accounts = chainference::accounts::WithdrawClientFunds {
        wallet: *wallet,
        client_account: client_address(wallet),
        destination: *destination,
    };
    ours(accounts, chainference::instruction::WithdrawClientFunds {})
}

/// `withdraw_server_funds`: `operator` sends the pay and bonds its wallet could not take to
/// `destination`.
pub fn withdraw_server_funds(operator: &Pubkey, destination: &Pubkey) -> Instruction {
    let accounts = chainference::accounts::WithdrawServerFunds {
        operator: *operator,
        server: server_address(operator),
        destination: *destination,
    };
    ours(accounts, chainference::instruction::WithdrawServerFunds {})
}

/// `withdraw_fees`: the admin sends the treasury's fees above its rent to `destination`.
pub fn withdraw_fees(admin: &Pubkey, destination: &Pubkey) -> Instruction {
    let accounts = chainference::accounts::WithdrawFees {
        admin: *admin,
        config: config_address(),
        treasury: treasury_address(),
        destination: *destination,
    };
    ours(accounts, chainference::instruction::WithdrawFees {})
}

/// `propose_admin`: the admin names the key its role goes to once accepted.
pub fn propose_admin(admin: &Pubkey, new_admin: &Pubkey) -> Instruction {
    let accounts = chainference::accounts::ProposeAdmin {
        admin: *admin,
        config: config_address(),
    };
    ours(
        accounts,
        chainference::instruction::ProposeAdmin {
            new_admin: *new_admin,
        },
    )
}

/// `accept_admin`: the proposed key takes the admin role.
pub fn accept_admin(new_admin: &Pubkey) -> Instruction {
    let accounts = chainference::accounts::AcceptAdmin {
        new_admin: *new_admin,
        config: config_address(),
    };
    ours(accounts, chainference::instruction::AcceptAdmin {})
}

/// The two instructions that make a response tree for `operator`'s server in one transaction
/// (signed by the operator and the new `tree` keypair): the system `create_account` owned by
/// spl-account-compression, funded with `rent` lamports, then `create_tree`.
pub fn create_tree(
    operator: &Pubkey,
    tree: &Pubkey,
    max_depth: u32,
    max_buffer_size: u32,
    rent: u64,
) -> [Instruction; 2] {
    let space = tree_account_len(max_depth, max_buffer_size) as u64;
    let create = anchor_lang::solana_program::system_instruction::create_account(
        operator,
        tree,
        rent,
        space,
        &COMPRESSION_PROGRAM_ID,
    );
    let accounts = chainference::accounts::CreateTree {
        operator: *operator,
        server: server_address(operator),
        tree: *tree,
        tree_writer: TREE_WRITER_ACCOUNTS,
    };
    [
        create,
        ours(
            accounts,
            chainference::instruction::CreateTree {
                max_depth,
                max_buffer_size,
            },
        ),
    ]
}

/// The accounts `operator`'s appends to `tree` and its completions name besides the operator,
/// the request and the client: what the provider's address lookup table holds.
pub fn provider_lookup_addresses(operator: &Pubkey, tree: &Pubkey) -> [Pubkey; 8] {
    let writer = TREE_WRITER_ACCOUNTS;
    [
        solana_instructions_sysvar::ID,
        config_address(),
        writer.tree_authority,
        writer.compression_program,
        writer.noop_program,
        *tree,
        server_address(operator),
        treasury_address(),
    ]
}

/// `append_batch`: `chunks` of `request` (locked by `operator`'s server) with their `root`,
/// appended to `tree`.
pub fn append_batch(
    operator: &Pubkey,
    request: &Pubkey,
    tree: &Pubkey,
    root: [u8; 32],
    chunks: &[Chunk],
) -> Instruction {
    let accounts = append_accounts(operator, request, tree);
    let chunks = chunks
        .iter()
        .map(|chunk| chainference::events::Chunk {
            seq: chunk.seq,
            tokens: chunk.tokens,
            is_final: chunk.is_final,
            nonce: chunk.nonce,
            ciphertext: chunk.ciphertext.clone(),
        })
        .collect();
    ours(
        accounts,
        chainference::instruction::AppendBatch { root, chunks },
    )
}

/// `append_root`: the `claim` of a directly delivered batch of `request` (locked by
/// `operator`'s server), appended to `tree`.
pub fn append_root(
    operator: &Pubkey,
    request: &Pubkey,
    tree: &Pubkey,
    claim: &RootClaim,
) -> Instruction {
    ours(
        append_accounts(operator, request, tree),
        chainference::instruction::AppendRoot {
            first_seq: claim.first_seq,
            count: claim.count,
            tokens: claim.tokens,
            finished: claim.finished,
            root: claim.root,
        },
    )
}

/// The accounts of `append_batch` and `append_root`.
fn append_accounts(
    operator: &Pubkey,
    request: &Pubkey,
    tree: &Pubkey,
) -> chainference::accounts::AppendBatch {
    chainference::accounts::AppendBatch {
        operator: *operator,
        request: *request,
        tree: *tree,
        tree_writer: TREE_WRITER_ACCOUNTS,
    }
}

/// The compute-budget program's `SetComputeUnitLimit`.
pub fn set_compute_unit_limit(units: u32) -> Instruction {
    let mut data = vec![2];
    data.extend_from_slice(&units.to_le_bytes());
    Instruction {
        program_id: COMPUTE_BUDGET_PROGRAM_ID,
        accounts: Vec::<AccountMeta>::new(),
        data,
    }
}

/// The compute-budget program's `SetComputeUnitPrice` (micro-lamports per compute unit).
pub fn set_compute_unit_price(micro_lamports: u64) -> Instruction {
    let mut data = vec![3];
    data.extend_from_slice(&micro_lamports.to_le_bytes());
    Instruction {
        program_id: COMPUTE_BUDGET_PROGRAM_ID,
        accounts: Vec::<AccountMeta>::new(),
        data,
    }
}
