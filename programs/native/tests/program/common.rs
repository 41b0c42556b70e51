//! A small world over the harness: instruction senders, fixtures and assertions.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::solana_program::system_instruction;
use anchor_lang::{InstructionData, ToAccountMetas};
use chainference::compression::NOOP_PROGRAM_ID;
use chainference::error::ChainferenceError;
use chainference::events::Chunk;
use chainference::state::*;
use chainference::{accounts, instruction};
use chainference_client_core::instructions::close_request;
pub use chainference_client_core::receipt::{WrittenReceipt, V1_STATE_TREES};
use chainference_native::svm::litesvm::types::TransactionMetadata;
use chainference_native::svm::solana_keypair::Keypair;
use chainference_native::svm::solana_signer::Signer;
use chainference_native::svm::*;
use chainference_prover::core::{batch_root, chunk_hash, RootClaim, Scope};
use solana_message::Message;
use spl_concurrent_merkle_tree::concurrent_merkle_tree::ConcurrentMerkleTree;

/// What sending one instruction gave.
pub type Sent = Result<TransactionMetadata, Refusal>;

/// The model every test server offers.
pub const MODEL: &str = "HuggingFaceTB/SmolLM2-135M-Instruct";
/// Depth of the test trees (the smallest shape the program accepts).
pub const DEPTH: u32 = 14;
/// Buffer of the test trees.
pub const BUFFER: u32 = 64;
/// A wallet's starting balance.
pub const WALLET: u64 = 100_000_000_000;

/// The harness plus the senders of every instruction.
pub struct World {
    pub h: Harness,
}

/// An offer of [`MODEL`] at the given prices (lamports per million tokens).
pub fn offer(input_price: u64, output_price: u64) -> ModelOffer {
    ModelOffer {
        id: MODEL.to_string(),
        revision: "main".to_string(),
        quantization: "Q4_1".to_string(),
        weights_sha256: [7; 32],
        context_length: 2_048,
        input_price,
        output_price,
        min_stake: 0,
    }
}

/// Server parameters offering `models`.
pub fn server_params(models: Vec<ModelOffer>, max_concurrent: u16) -> ServerParams {
    ServerParams {
        models,
        endpoint: String::new(),
        max_concurrent,
    }
}

/// Terms for [`MODEL`]: 100 prompt tokens, up to 1,000 answer tokens, generous caps, any server.
pub fn terms() -> RequestTerms {
    RequestTerms {
        model: MODEL.to_string(),
        max_output_tokens: 1_000,
        max_input_price: 10_000_000,
        max_output_price: 10_000_000,
        prompt_tokens: 100,
        allowed_servers: vec![],
        filters: Filters {
            max_failure_bps: 10_000,
            ..Filters::default()
        },
        time_limit_secs: 0,
        max_batch_wait_ms: 0,
        delivery: Delivery::Chain,
        key_version: 1,
    }
}

/// `count` chunks from `first_seq`, `tokens` each, the last one final if `last_is_final`.
pub fn chunks(first_seq: u32, count: u32, tokens: u16, last_is_final: bool) -> Vec<Chunk> {
    (0..count)
        .map(|i| Chunk {
            seq: first_seq + i,
            tokens,
            is_final: last_is_final && i + 1 == count,
            nonce: [(first_seq + i) as u8; 24],
            ciphertext: format!("sealed chunk {}", first_seq + i).into_bytes(),
        })
        .collect()
}

/// The batch root the program recomputes for `chunks` of `request`.
pub fn root_of(request: &Pubkey, chunks: &[Chunk]) -> [u8; 32] {
    let hashes: Vec<_> = chunks
        .iter()
        .map(|chunk| chunk_hash(&request.to_bytes(), &chunk.as_ref()))
        .collect();
    batch_root(&hashes).unwrap_or_default()
}

/// Asserts `sent` was refused with `expected`.
#[track_caller]
pub fn assert_refused(sent: Sent, expected: ChainferenceError) {
    match sent {
        Ok(meta) => panic!(
            "expected {expected:?}, but it succeeded:\n{}",
            meta.pretty_logs()
        ),
        Err(refusal) => assert_eq!(
            error_code(&refusal),
            Some(anchor_lang::error::ERROR_CODE_OFFSET + expected as u32),
            "expected {expected:?}, got {:?}",
            refusal.err
        ),
    }
}

/// Asserts `sent` succeeded and returns its metadata.
#[track_caller]
pub fn assert_ok(sent: Sent) -> TransactionMetadata {
    match sent {
        Ok(meta) => meta,
        Err(refusal) => panic!("refused: {:?}\n{}", refusal.err, refusal.meta.pretty_logs()),
    }
}

/// `append_batch` of `chunks` to `request` on `tree` under `root`.
pub fn append_ix(
    operator: &Keypair,
    request: &Pubkey,
    tree: &Pubkey,
    root: [u8; 32],
    chunks: Vec<Chunk>,
) -> Instruction {
    let accounts = accounts::AppendBatch {
        operator: operator.pubkey(),
        request: *request,
        tree: *tree,
        tree_writer: chainference::compression::TREE_WRITER_ACCOUNTS,
    };
    ix(accounts, instruction::AppendBatch { root, chunks })
}

fn ix(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: chainference::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

pub use chainference::pda::{client_address as counter_address, request_address};

impl World {
    /// A runtime with the design's default config at `fee_bps`.
    pub fn new(fee_bps: u16) -> Self {
        Self {
            h: Harness::with_config(ConfigParams::with_fee(fee_bps)),
        }
    }

    /// A runtime with the design's default config for the cluster whose genesis hash is
    /// `cluster`.
    pub fn on_cluster(cluster: [u8; 32]) -> Self {
        Self {
            h: Harness::on_cluster(ConfigParams::with_fee(0), cluster),
        }
    }

    /// Where signatures about `request` count in this world.
    pub fn scope(&self, request: &Pubkey) -> Scope {
        let config = self
            .h
            .account::<Config>(&config_address())
            .expect("the config exists");
        chainference_client_core::instructions::scope(&config.cluster, request)
    }

    /// A funded wallet.
    pub fn wallet(&mut self) -> Keypair {
        self.h.funded(WALLET)
    }

    /// A registered server offering `offer`, with one response tree.
    pub fn server(&mut self, offer: ModelOffer, max_concurrent: u16) -> (Keypair, Pubkey) {
        let operator = self.wallet();
        assert_ok(self.register(&operator, server_params(vec![offer], max_concurrent)));
        let tree = self
            .h
            .create_tree(&operator, DEPTH, BUFFER)
            .unwrap_or_else(|r| panic!("{:?}", r.err));
        (operator, tree)
    }

    pub fn register(&mut self, operator: &Keypair, params: ServerParams) -> Sent {
        let accounts = accounts::RegisterServer {
            operator: operator.pubkey(),
            server: server_address(&operator.pubkey()),
            system_program: anchor_lang::system_program::ID,
        };
        self.h.send(
            &[ix(accounts, instruction::RegisterServer { params })],
            operator,
            &[],
        )
    }

    pub fn update_server(
        &mut self,
        operator: &Keypair,
        server_operator: &Pubkey,
        params: ServerParams,
    ) -> Sent {
        let accounts = accounts::UpdateServer {
            operator: operator.pubkey(),
            server: server_address(server_operator),
        };
        self.h.send(
            &[ix(accounts, instruction::UpdateServer { params })],
            operator,
            &[],
        )
    }

    pub fn deactivate(&mut self, operator: &Keypair, server_operator: &Pubkey) -> Sent {
        let accounts = accounts::DeactivateServer {
            operator: operator.pubkey(),
            server: server_address(server_operator),
        };
        self.h.send(
            &[ix(accounts, instruction::DeactivateServer {})],
            operator,
            &[],
        )
    }

    pub fn update_config(&mut self, admin: &Keypair, params: ConfigParams) -> Sent {
        let accounts = accounts::UpdateConfig {
            admin: admin.pubkey(),
            config: config_address(),
        };
        self.h.send(
            &[ix(accounts, instruction::UpdateConfig { params })],
            admin,
            &[],
        )
    }

    /// The nonce `client`'s next request gets.
    pub fn next_nonce(&self, client: &Pubkey) -> u64 {
        self.h
            .account::<Client>(&counter_address(client))
            .map_or(0, |counter| counter.next_nonce)
    }

    /// Creates a request with `nonce`; see [`World::create_request`].
    pub fn create_request_with_nonce(
        &mut self,
        client: &Keypair,
        nonce: u64,
        stake: u64,
        terms: RequestTerms,
    ) -> Sent {
        let accounts = accounts::CreateRequest {
            client: client.pubkey(),
            client_counter: counter_address(&client.pubkey()),
            request: request_address(&client.pubkey(), nonce),
            config: config_address(),
            system_program: anchor_lang::system_program::ID,
        };
        self.h.send(
            &[ix(
                accounts,
                instruction::CreateRequest {
                    nonce,
                    stake,
                    terms,
                },
            )],
            client,
            &[],
        )
    }

    /// Creates `client`'s next request and returns its address.
    pub fn create_request(
        &mut self,
        client: &Keypair,
        stake: u64,
        terms: RequestTerms,
    ) -> Result<Pubkey, Refusal> {
        let nonce = self.next_nonce(&client.pubkey());
        self.create_request_with_nonce(client, nonce, stake, terms)?;
        Ok(request_address(&client.pubkey(), nonce))
    }

    pub fn cancel(&mut self, client: &Keypair, request: &Pubkey) -> Sent {
        let accounts = accounts::CancelRequest {
            client: client.pubkey(),
            request: *request,
        };
        self.h
            .send(&[ix(accounts, instruction::CancelRequest {})], client, &[])
    }

    pub fn lock(&mut self, operator: &Keypair, request: &Pubkey, tree: &Pubkey) -> Sent {
        self.lock_for(operator, &operator.pubkey(), request, tree)
    }

    /// Locks for the server of `server_operator`, signed by `operator` (who also signs the
    /// per-request key).
    pub fn lock_for(
        &mut self,
        operator: &Keypair,
        server_operator: &Pubkey,
        request: &Pubkey,
        tree: &Pubkey,
    ) -> Sent {
        let server_key = [7u8; 32];
        let scope = self.scope(request);
        let signature = operator
            .sign_message(&scope.key_message(&server_key))
            .into();
        let weights = self.pinned_weights(server_operator, request);
        let mut lock = chainference_client_core::instructions::lock_request(
            &operator.pubkey(),
            &scope,
            tree,
            server_key,
            weights,
            &signature,
        );
        lock[1].accounts[1].pubkey = server_address(server_operator);
        self.h.send(&lock, operator, &[])
    }

    pub fn prompt(
        &mut self,
        client: &Keypair,
        request: &Pubkey,
        ciphertext: Vec<u8>,
        seal: bool,
    ) -> Sent {
        let accounts = accounts::SubmitPrompt {
            client: client.pubkey(),
            request: *request,
        };
        self.h.send(
            &[ix(accounts, instruction::SubmitPrompt { ciphertext, seal })],
            client,
            &[],
        )
    }

    /// Appends `chunks` with the root they hash to.
    pub fn append(&mut self, operator: &Keypair, request: &Pubkey, chunks: Vec<Chunk>) -> Sent {
        let root = root_of(request, &chunks);
        self.append_with_root(operator, request, root, chunks)
    }

    pub fn append_with_root(
        &mut self,
        operator: &Keypair,
        request: &Pubkey,
        root: [u8; 32],
        chunks: Vec<Chunk>,
    ) -> Sent {
        let tree = self
            .h
            .account::<Request>(request)
            .map_or_else(Pubkey::default, |r| r.lock.tree);
        self.append_to(operator, request, &tree, root, chunks)
    }

    pub fn append_to(
        &mut self,
        operator: &Keypair,
        request: &Pubkey,
        tree: &Pubkey,
        root: [u8; 32],
        chunks: Vec<Chunk>,
    ) -> Sent {
        let append = append_ix(operator, request, tree, root, chunks);
        self.h.send(&[append], operator, &[])
    }

    pub fn complete(&mut self, operator: &Keypair, request: &Pubkey) -> Sent {
        self.complete_after(operator, request, vec![])
    }

    /// `complete_request` of `request` with `before` in front of it in the same transaction
    /// (a direct answer's acknowledgement).
    pub fn complete_after(
        &mut self,
        operator: &Keypair,
        request: &Pubkey,
        mut before: Vec<Instruction>,
    ) -> Sent {
        let locked = self.request(request);
        let mut complete =
            chainference_client_core::instructions::complete_request(request, &locked);
        complete.accounts[0].pubkey = operator.pubkey();
        before.push(complete);
        self.h.send(&before, operator, &[])
    }

    /// `append_root` of a directly delivered batch's `claim`.
    pub fn append_root(&mut self, operator: &Keypair, request: &Pubkey, claim: &RootClaim) -> Sent {
        let tree = self.request(request).lock.tree;
        let append = chainference_client_core::instructions::append_root(
            &operator.pubkey(),
            request,
            &tree,
            claim,
        );
        self.h.send(&[append], operator, &[])
    }

    /// Expires `request`, sent by `sender`, naming its server and operator when it has one.
    pub fn expire(&mut self, sender: &Keypair, request: &Pubkey) -> Sent {
        let r = self.request(request);
        let locked = r.state != RequestState::Open;
        let accounts = accounts::ExpireRequest {
            request: *request,
            client: r.client,
            client_account: counter_address(&r.client),
            server: locked.then_some(r.lock.server),
            operator: locked.then_some(r.lock.operator),
        };
        self.h
            .send(&[ix(accounts, instruction::ExpireRequest {})], sender, &[])
    }

    pub fn flag(&mut self, client: &Keypair, request: &Pubkey) -> Sent {
        let server = self.request(request).lock.server;
        let accounts = accounts::FlagResponse {
            client: client.pubkey(),
            request: *request,
            server,
        };
        self.h
            .send(&[ix(accounts, instruction::FlagResponse {})], client, &[])
    }

    pub fn compare(
        &mut self,
        client: &Keypair,
        first: &Pubkey,
        second: &Pubkey,
        first_preferred: bool,
    ) -> Sent {
        let accounts = accounts::RecordComparison {
            client: client.pubkey(),
            first: *first,
            second: *second,
            first_server: self.request(first).lock.server,
            second_server: self.request(second).lock.server,
            config: config_address(),
        };
        self.h.send(
            &[ix(
                accounts,
                instruction::RecordComparison { first_preferred },
            )],
            client,
            &[],
        )
    }

    /// `close_request` by `sender`, its receipt into Light's first v1 state tree.
    pub fn close(&mut self, sender: &Keypair, request: &Pubkey) -> Sent {
        self.close_into(sender, request, &V1_STATE_TREES[0])
    }

    /// `close_request` by `sender`, its receipt into `state_tree`.
    pub fn close_into(&mut self, sender: &Keypair, request: &Pubkey, state_tree: &Pubkey) -> Sent {
        let close = self.close_instruction(sender, request, state_tree);
        self.h.send(&[close], sender, &[])
    }

    /// `close_request` by `sender` into `state_tree`, which must succeed: the receipt it wrote,
    /// read back from the transaction's inner instructions as the client reads it from
    /// `getTransaction`.
    #[track_caller]
    pub fn close_for_receipt(
        &mut self,
        sender: &Keypair,
        request: &Pubkey,
        state_tree: &Pubkey,
    ) -> WrittenReceipt {
        let close = self.close_instruction(sender, request, state_tree);
        let keys = Message::new(std::slice::from_ref(&close), Some(&sender.pubkey())).account_keys;
        let sent = self
            .h
            .send(&[close], sender, &[])
            .unwrap_or_else(|refusal| panic!("{:?}\n{:#?}", refusal.err, refusal.meta.logs));
        sent.inner_instructions
            .iter()
            .flatten()
            .find_map(|inner| {
                let instruction = &inner.instruction;
                let program = keys.get(usize::from(instruction.program_id_index))?;
                let accounts: Vec<Pubkey> = instruction
                    .accounts
                    .iter()
                    .filter_map(|index| keys.get(usize::from(*index)).copied())
                    .collect();
                WrittenReceipt::from_instruction(program, &instruction.data, &accounts)
            })
            .expect("the close wrote a receipt")
    }

    fn close_instruction(
        &self,
        sender: &Keypair,
        request: &Pubkey,
        state_tree: &Pubkey,
    ) -> Instruction {
        let client = self
            .h
            .account::<Request>(request)
            .map_or(sender.pubkey(), |request| request.client);
        close_request(&sender.pubkey(), request, &client, state_tree)
    }

    /// `withdraw_client_funds` of `wallet`'s account to `destination`, the fee paid by `payer`.
    pub fn withdraw_client(
        &mut self,
        wallet: &Keypair,
        payer: &Keypair,
        destination: &Pubkey,
    ) -> Sent {
        let ix = chainference_client_core::instructions::withdraw_client_funds(
            &wallet.pubkey(),
            destination,
        );
        self.h.send(&[ix], payer, &[wallet])
    }

    /// `withdraw_server_funds` of `operator`'s server to `destination`, the fee paid by `payer`.
    pub fn withdraw_server(
        &mut self,
        operator: &Keypair,
        payer: &Keypair,
        destination: &Pubkey,
    ) -> Sent {
        let ix = chainference_client_core::instructions::withdraw_server_funds(
            &operator.pubkey(),
            destination,
        );
        self.h.send(&[ix], payer, &[operator])
    }

    /// `withdraw_fees` by `admin` to `destination`.
    pub fn withdraw_fees(&mut self, admin: &Keypair, destination: &Pubkey) -> Sent {
        let ix =
            chainference_client_core::instructions::withdraw_fees(&admin.pubkey(), destination);
        self.h.send(&[ix], admin, &[])
    }

    /// Gives `wallet` to another program (the system program's `assign`, which only the
    /// wallet's signature allows), the fee paid by `payer`: a system account no more.
    pub fn give_away(&mut self, wallet: &Keypair, payer: &Keypair) -> Sent {
        let assign = system_instruction::assign(&wallet.pubkey(), &NOOP_PROGRAM_ID);
        self.h.send(&[assign], payer, &[wallet])
    }

    /// Empties `wallet` into `sink`, the fee paid by `payer`.
    pub fn empty(&mut self, wallet: &Keypair, payer: &Keypair, sink: &Pubkey) -> Sent {
        let all = self.h.lamports(&wallet.pubkey());
        let transfer = system_instruction::transfer(&wallet.pubkey(), sink, all);
        self.h.send(&[transfer], payer, &[wallet])
    }

    /// Gives `wallet` `bytes` of data (the system program's `allocate`), which raises its
    /// rent-exempt minimum, the fee paid by `payer`.
    pub fn grow(&mut self, wallet: &Keypair, payer: &Keypair, bytes: u64) -> Sent {
        let allocate = system_instruction::allocate(&wallet.pubkey(), bytes);
        self.h.send(&[allocate], payer, &[wallet])
    }

    /// The rent-exempt minimum of the account at `address` for its size.
    pub fn rent_floor(&self, address: &Pubkey) -> u64 {
        let size = self.h.svm.get_account(address).map_or(0, |a| a.data.len());
        self.h.svm.minimum_balance_for_rent_exemption(size)
    }

    /// Drives `request` from open to ready: lock by `operator`, one sealed prompt chunk.
    pub fn ready(&mut self, client: &Keypair, operator: &Keypair, tree: &Pubkey, request: &Pubkey) {
        assert_ok(self.lock(operator, request, tree));
        assert_ok(self.prompt(client, request, vec![1; 64], true));
    }

    /// A server offering `offer` and a ready request of a new client for answers up to
    /// `max_output_tokens`, staked `stake`: the operator, its tree and the request.
    pub fn ready_request(
        &mut self,
        offer: ModelOffer,
        stake: u64,
        max_output_tokens: u32,
    ) -> (Keypair, Pubkey, Pubkey) {
        let (operator, tree) = self.server(offer, 1);
        let client = self.wallet();
        let mut request_terms = terms();
        request_terms.max_output_tokens = max_output_tokens;
        let request = self
            .create_request(&client, stake, request_terms)
            .expect("create_request");
        self.ready(&client, &operator, &tree, &request);
        (operator, tree, request)
    }

    /// Lists an endpoint for `operator`'s server (offering [`offer`]`(1_000_000, 2_000_000)` to
    /// two at once), which direct requests need.
    pub fn give_endpoint(&mut self, operator: &Keypair) {
        let mut params = server_params(vec![offer(1_000_000, 2_000_000)], 2);
        params.endpoint = "wss://provider.example/chainference".into();
        assert_ok(self.update_server(operator, &operator.pubkey(), params));
    }

    /// A server with an endpoint and a ready direct-delivery request of a new client, staked
    /// 10,000,000: the operator, its tree, the client and the request.
    pub fn ready_direct(&mut self) -> (Keypair, Pubkey, Keypair, Pubkey) {
        let (operator, tree) = self.server(offer(1_000_000, 2_000_000), 2);
        self.give_endpoint(&operator);
        let client = self.wallet();
        let mut direct = terms();
        direct.delivery = Delivery::Direct;
        let request = self
            .create_request(&client, 10_000_000, direct)
            .expect("create_request");
        self.ready(&client, &operator, &tree, &request);
        (operator, tree, client, request)
    }

    /// Drives a new request of `client` to completion with `tokens` answer tokens in one batch.
    pub fn completed(
        &mut self,
        client: &Keypair,
        operator: &Keypair,
        tree: &Pubkey,
        stake: u64,
    ) -> Pubkey {
        let request = self
            .create_request(client, stake, terms())
            .unwrap_or_else(|r| panic!("{:?}", r.err));
        self.ready(client, operator, tree, &request);
        assert_ok(self.append(operator, &request, chunks(0, 2, 10, true)));
        assert_ok(self.complete(operator, &request));
        request
    }

    /// The request at `address` (panics if it is closed).
    #[track_caller]
    pub fn request(&self, address: &Pubkey) -> Request {
        self.h
            .account::<Request>(address)
            .expect("the request account exists")
    }

    /// The weights the offer of `operator`'s server for `request`'s model pins (zeros if it
    /// offers no such model, or the request does not exist).
    pub fn pinned_weights(&self, operator: &Pubkey, request: &Pubkey) -> [u8; 32] {
        let server = self.h.account::<Server>(&server_address(operator));
        let request = self.h.account::<Request>(request);
        server
            .zip(request)
            .and_then(|(server, request)| {
                server
                    .models
                    .into_iter()
                    .find(|offer| offer.id == request.terms.model)
            })
            .map_or([0; 32], |offer| offer.weights_sha256)
    }

    /// The server of `operator`.
    #[track_caller]
    pub fn server_of(&self, operator: &Pubkey) -> Server {
        self.h
            .account::<Server>(&server_address(operator))
            .expect("the server account exists")
    }

    /// The tree's current root and leaf count, read from the account's bytes.
    pub fn tree_state(&self, tree: &Pubkey) -> ([u8; 32], u64) {
        let account = self.h.svm.get_account(tree).expect("the tree exists");
        const HEADER: usize = 56;
        let size = std::mem::size_of::<ConcurrentMerkleTree<14, 64>>();
        let onchain: ConcurrentMerkleTree<14, 64> =
            bytemuck::pod_read_unaligned(&account.data[HEADER..HEADER + size]);
        (onchain.get_root(), u64::from(onchain.rightmost_proof.index))
    }
}

/// An off-chain reference tree of the same shape, fed the same leaves.
pub fn reference_tree() -> Box<ConcurrentMerkleTree<14, 64>> {
    let mut tree = Box::new(ConcurrentMerkleTree::<14, 64>::new());
    tree.initialize()
        .expect("an empty reference tree initializes");
    tree
}
