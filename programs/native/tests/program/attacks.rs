//! Attacks of one side on what the other is owed (issue 19), each run as the attacker would
//! run it; every test asserts that the attacker gains nothing.

use crate::common::*;
use anchor_lang::prelude::Pubkey;
use chainference::error::ChainferenceError;
use chainference::state::{Delivery, RequestState};
use chainference_native::svm::solana_keypair::Keypair;
use chainference_native::svm::solana_signer::Signer;
use chainference_native::svm::{error_code, server_address};

/// Gives `wallet` to another program.
fn give_away(w: &mut World, wallet: &Keypair) {
    let payer = w.wallet();
    assert_ok(w.give_away(wallet, &payer));
}

/// Empties `wallet` (another payer pays the fee).
fn empty(w: &mut World, wallet: &Keypair) {
    let payer = w.wallet();
    assert_ok(w.empty(wallet, &payer, &Pubkey::new_unique()));
    assert_eq!(w.h.lamports(&wallet.pubkey()), 0);
}

/// A ready request of `client` on `operator`'s server whose stake exceeds its worst bill by
/// only `margin` lamports (so the refund is small), with its final chunk posted.
fn answered(
    w: &mut World,
    client: &Keypair,
    operator: &Keypair,
    tree: &Pubkey,
    margin: u64,
) -> Pubkey {
    let mut t = terms();
    t.max_output_tokens = 20;
    // 100 prompt tokens at 1 and 20 answer tokens at 2 lamports a token: 140.
    let request = w.create_request(client, 140 + margin, t).expect("create");
    w.ready(client, operator, tree, &request);
    assert_ok(w.append(operator, &request, chunks(0, 2, 10, true)));
    request
}

#[test]
fn a_client_that_empties_its_wallet_cannot_block_its_refund_or_the_servers_pay() {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    let request = answered(&mut w, &client, &operator, &tree, 1_000);
    empty(&mut w, &client);
    // The refund (1,000 lamports) would leave the empty wallet under the rent-exempt minimum:
    // it waits in the client's account of the program instead.
    let account = counter_address(&client.pubkey());
    let floor = w.rent_floor(&account);
    assert_ok(w.complete(&operator, &request));
    let settled = w.request(&request);
    assert_eq!(settled.state, RequestState::Completed);
    let refund = settled.stake - settled.settlement.bill;
    assert!(refund > 0 && refund < w.rent_floor(&Pubkey::new_unique()));
    assert_eq!(w.h.lamports(&client.pubkey()), 0);
    assert_eq!(w.h.lamports(&account), floor + refund);
    // The client takes it to a wallet of its choosing; nobody else can.
    let payer = w.wallet();
    let thief = w.wallet();
    // The thief's own counter does not exist: nothing to take, and none of the client's.
    assert!(w.withdraw_client(&thief, &payer, &thief.pubkey()).is_err());
    let before = w.h.lamports(&payer.pubkey());
    assert_ok(w.withdraw_client(&client, &payer, &payer.pubkey()));
    assert_eq!(w.h.lamports(&payer.pubkey()), before + refund - 2 * 5_000);
    assert_eq!(w.h.lamports(&account), floor);
    assert_refused(
        w.withdraw_client(&client, &payer, &payer.pubkey()),
        ChainferenceError::NothingToWithdraw,
    );
    // The rent comes back the same way once the flag window has passed.
    w.h.advance(3_601);
    let rent = w.request(&request).rent;
    assert_ok(w.close(&payer, &request));
    assert!(w.h.lamports(&client.pubkey()) + w.h.lamports(&account) >= floor + rent - 10_000);
}

#[test]
fn a_client_that_gives_its_wallet_away_cannot_block_completion_or_expiry() {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    let answered = answered(&mut w, &client, &operator, &tree, 5_000_000);
    let mut t = terms();
    t.max_output_tokens = 20;
    let stalled = w.create_request(&client, 5_000_000, t).expect("create");
    w.ready(&client, &operator, &tree, &stalled);
    give_away(&mut w, &client);

    let before = w.h.lamports(&client.pubkey());
    assert_ok(w.complete(&operator, &answered));
    let refund = 140 + 5_000_000 - w.request(&answered).settlement.bill;
    assert_eq!(w.h.lamports(&client.pubkey()), before + refund);
    // The stalled answer's time limit passes: expiry frees the server's lock slot and pays the
    // client stake, bond and rent.
    w.h.advance(100_000);
    let r = w.request(&stalled);
    assert_ok(w.expire(&operator, &stalled));
    assert_eq!(w.server_of(&operator.pubkey()).active_locks, 0);
    assert_eq!(
        w.h.lamports(&client.pubkey()),
        before + refund + r.stake + r.lock.bond + r.rent
    );
}

#[test]
fn an_operator_that_gives_its_wallet_away_cannot_freeze_the_clients_stake() {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    let request = w
        .create_request(&client, 5_000_000, terms())
        .expect("create");
    assert_ok(w.lock(&operator, &request, &tree));
    give_away(&mut w, &operator);
    // The client never sends its prompt; after the prompt window anyone may expire the request,
    // which hands the bond back to the operator.
    w.h.advance(31);
    let before = w.h.lamports(&client.pubkey());
    let bond = w.request(&request).lock.bond;
    let operator_before = w.h.lamports(&operator.pubkey());
    assert_ok(w.expire(&client, &request));
    assert!(
        w.h.lamports(&client.pubkey()) > before,
        "the stake came back"
    );
    assert_eq!(w.h.lamports(&operator.pubkey()), operator_before + bond);
}

#[test]
fn an_operator_that_empties_its_wallet_gets_its_bond_in_its_server_account() {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    // A bond of 500,000 lamports, under an empty account's rent-exempt minimum.
    let request = w
        .create_request(&client, 5_000_000, terms())
        .expect("create");
    assert_ok(w.lock(&operator, &request, &tree));
    empty(&mut w, &operator);
    w.h.advance(31);
    let server = server_address(&operator.pubkey());
    let floor = w.rent_floor(&server);
    assert_ok(w.expire(&client, &request));
    assert_eq!(w.h.lamports(&server), floor + 500_000);
    let payer = w.wallet();
    let before = w.h.lamports(&payer.pubkey());
    assert_ok(w.withdraw_server(&operator, &payer, &payer.pubkey()));
    assert_eq!(w.h.lamports(&payer.pubkey()), before + 500_000 - 2 * 5_000);
    assert_eq!(w.h.lamports(&server), floor);
}

#[test]
fn a_prompt_sealed_after_the_time_limit_cannot_turn_into_the_servers_failure() {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    let mut t = terms();
    t.time_limit_secs = 1;
    let operator_start = w.h.lamports(&operator.pubkey());
    // The attack: a one-second time limit, sealed after it passed, expired in the same
    // transaction, takes the bond and puts a failure on the server's record. Any step may be
    // the one refused; the server must end with no failure and its bond.
    let created = w.create_request(&client, 5_000_000, t.clone());
    if let Err(refusal) = &created {
        assert_eq!(
            error_code(refusal),
            Some(
                anchor_lang::error::ERROR_CODE_OFFSET + ChainferenceError::TimeLimitTooShort as u32
            )
        );
    }
    if let Ok(request) = created {
        assert_ok(w.lock(&operator, &request, &tree));
        w.h.advance(2);
        let sealed = w.h.account::<chainference::state::Request>(&request);
        let seal = chainference_client_core::instructions::submit_prompt(
            &client.pubkey(),
            &request,
            vec![1; 64],
            true,
        );
        let mut ready = sealed.expect("locked");
        ready.state = RequestState::Ready;
        let expire = chainference_client_core::instructions::expire_request(&request, &ready);
        let _ = w.h.send(&[seal, expire], &client, &[]);
    }
    assert_eq!(w.server_of(&operator.pubkey()).reputation.failures, 0);
    assert!(
        w.h.lamports(&operator.pubkey()) + 2 * 5_000 >= operator_start,
        "the operator lost its bond"
    );
    // The shortest time limit accepted is the prompt window and MIN_ANSWER_SECS: a prompt
    // sealed at the last moment leaves the server that long.
    t.time_limit_secs = 30 + chainference::constants::MIN_ANSWER_SECS - 1;
    let nonce = w.next_nonce(&client.pubkey());
    assert_refused(
        w.create_request_with_nonce(&client, nonce, 5_000_000, t.clone()),
        ChainferenceError::TimeLimitTooShort,
    );
    t.time_limit_secs += 1;
    assert!(w.create_request(&client, 5_000_000, t).is_ok());
}

#[test]
fn a_client_cannot_seal_a_large_prompt_it_declared_as_none() {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    let mut t = terms();
    t.prompt_tokens = 0;
    let request = w.create_request(&client, 5_000_000, t).expect("create");
    assert_ok(w.lock(&operator, &request, &tree));
    let pieces = chainference::constants::MAX_PROMPT_LEN as usize / 1_024;
    for piece in 0..pieces - 1 {
        assert_ok(w.prompt(&client, &request, vec![piece as u8; 1_024], false));
    }
    assert_refused(
        w.prompt(&client, &request, vec![9; 1_024], true),
        ChainferenceError::PromptTokensUnderstated,
    );
    assert_eq!(w.request(&request).state, RequestState::Locked);
}

#[test]
fn a_declared_prompt_covers_its_sealed_size_at_the_stated_rate() {
    use chainference::constants::{PROMPT_BYTES_PER_TOKEN, PROMPT_OVERHEAD_BYTES};
    use chainference::state::min_prompt_tokens;
    assert_eq!(min_prompt_tokens(PROMPT_OVERHEAD_BYTES), 0);
    assert_eq!(
        min_prompt_tokens(PROMPT_OVERHEAD_BYTES + PROMPT_BYTES_PER_TOKEN),
        1
    );
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    let bytes = 4 * 1_024;
    let needed = min_prompt_tokens(bytes);
    for (declared, sealed) in [(needed - 1, false), (needed, true)] {
        let mut t = terms();
        t.prompt_tokens = declared;
        let request = w.create_request(&client, 5_000_000, t).expect("create");
        assert_ok(w.lock(&operator, &request, &tree));
        for _ in 0..3 {
            assert_ok(w.prompt(&client, &request, vec![1; 1_024], false));
        }
        let sent = w.prompt(&client, &request, vec![1; 1_024], true);
        assert_eq!(sent.is_ok(), sealed, "{declared} tokens for {bytes} bytes");
    }
}

#[test]
fn a_server_completes_a_direct_answer_its_client_never_acknowledged() {
    let mut w = World::new(0);
    let (operator, _, _, request) = w.ready_direct();
    // The client took the batches and never acknowledged: the server completes on the prompt.
    assert_ok(w.complete(&operator, &request));
    let settled = w.request(&request);
    assert_eq!(settled.settlement.tokens, 0);
    assert_eq!(settled.settlement.bill, 100);
    assert_eq!(w.server_of(&operator.pubkey()).reputation.failures, 0);
}

#[test]
fn a_lock_must_carry_the_operators_signature_of_its_key() {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    let request = w
        .create_request(&client, 5_000_000, terms())
        .expect("create");
    // A lock whose per-request key nobody signed: an RPC could have put its own key there.
    let scope = w.scope(&request);
    let signature = operator.sign_message(&scope.key_message(&[7; 32])).into();
    let bare = chainference_client_core::instructions::lock_request(
        &operator.pubkey(),
        &scope,
        &tree,
        [7; 32],
        [7; 32],
        &signature,
    );
    assert_refused(
        w.h.send(&[bare[1].clone()], &operator, &[]),
        ChainferenceError::KeySignatureMissing,
    );
    // Signed by another key, or for another request: refused too.
    let stranger = w.wallet();
    let scope = w.scope(&request);
    let by_stranger: [u8; 64] = stranger.sign_message(&scope.key_message(&[7; 32])).into();
    let [strangers_signature, _] = chainference_client_core::instructions::lock_request(
        &stranger.pubkey(),
        &scope,
        &tree,
        [7; 32],
        [7; 32],
        &by_stranger,
    );
    let forged = [strangers_signature, bare[1].clone()];
    assert_refused(
        w.h.send(&forged, &operator, &[]),
        ChainferenceError::KeySignatureInvalid,
    );
    let other = w.scope(&Pubkey::new_unique());
    let elsewhere = operator.sign_message(&other.key_message(&[7; 32])).into();
    let mut moved = chainference_client_core::instructions::lock_request(
        &operator.pubkey(),
        &other,
        &tree,
        [7; 32],
        [7; 32],
        &elsewhere,
    );
    moved[1] = bare[1].clone();
    assert_refused(
        w.h.send(&moved, &operator, &[]),
        ChainferenceError::KeySignatureInvalid,
    );
    // The operator's own signature: taken, and kept beside the key for the client to check
    // against the operator it expects.
    assert_ok(w.lock(&operator, &request, &tree));
    let lock = w.request(&request).lock;
    assert!(chainference_client_core::envelope::server_key_is_signed(
        &lock,
        &scope,
        &[]
    ));
    assert!(chainference_client_core::envelope::server_key_is_signed(
        &lock,
        &scope,
        &[operator.pubkey()]
    ));
    assert!(!chainference_client_core::envelope::server_key_is_signed(
        &lock,
        &scope,
        &[stranger.pubkey()]
    ));
    let lied = chainference::state::Lock {
        server_key: [8; 32],
        ..lock
    };
    assert!(!chainference_client_core::envelope::server_key_is_signed(
        &lied,
        &scope,
        &[]
    ));
}

#[test]
fn an_acknowledgement_signed_on_another_cluster_bills_nothing_here() {
    use chainference_client_core::instructions::{acknowledgement, append_root};
    use chainference_prover::core::{Acknowledgement, ResponseCursor, RootClaim};
    // The same wallets on two clusters (devnet and mainnet, say): the same request address.
    let client = Keypair::new();
    let operator = Keypair::new();
    let mut worlds = [World::on_cluster([1; 32]), World::on_cluster([2; 32])];
    let mut requests = vec![];
    for w in &mut worlds {
        w.h.airdrop(&client.pubkey(), WALLET);
        w.h.airdrop(&operator.pubkey(), WALLET);
        let mut params = server_params(vec![offer(1_000_000, 2_000_000)], 2);
        params.endpoint = "wss://provider.example/chainference".into();
        assert_ok(w.register(&operator, params));
        let tree = w.h.create_tree(&operator, DEPTH, BUFFER).expect("tree");
        let mut direct = terms();
        direct.delivery = Delivery::Direct;
        let request = w
            .create_request(&client, 10_000_000, direct)
            .expect("create");
        w.ready(&client, &operator, &tree, &request);
        requests.push((request, tree));
    }
    assert_eq!(requests[0].0, requests[1].0, "one address on both clusters");
    let (request, _) = requests[0];
    let answer = chunks(0, 2, 50, true);
    let mut cursor = ResponseCursor::new();
    let views: Vec<_> = answer.iter().map(|chunk| chunk.as_ref()).collect();
    let applied = cursor
        .apply(&request.to_bytes(), 1_000, &views)
        .expect("the chunks are an answer");
    let claim = RootClaim::between(&ResponseCursor::new(), &cursor, applied.root);
    let ack = Acknowledgement {
        next_seq: cursor.next_seq,
        tokens: cursor.tokens,
        chain: cursor.chain,
    };
    // The client acknowledged the answer on the first cluster.
    let scope = worlds[0].scope(&request);
    let signature: [u8; 64] = client.sign_message(&ack.message(&scope)).into();
    let signed = acknowledgement(&scope, &client.pubkey(), &ack, &signature);
    let w = &mut worlds[0];
    let root = append_root(&operator.pubkey(), &request, &requests[0].1, &claim);
    assert_ok(w.complete_after(&operator, &request, vec![root, signed.clone()]));
    // On the second the server posts the same roots and replays that acknowledgement.
    let w = &mut worlds[1];
    let root = append_root(&operator.pubkey(), &request, &requests[1].1, &claim);
    assert_refused(
        w.complete_after(&operator, &request, vec![root, signed]),
        ChainferenceError::AcknowledgementInvalid,
    );
}

#[test]
fn fees_leave_the_treasury_to_the_admin_alone_and_the_role_moves_in_two_steps() {
    use chainference_native::svm::treasury_address;
    let mut w = World::new(1_000);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    w.completed(&client, &operator, &tree, 10_000_000);
    let treasury = treasury_address();
    let floor = w.rent_floor(&treasury);
    let fees = w.h.lamports(&treasury) - floor;
    assert!(fees > 0, "the answer paid a fee");
    let admin = w.h.admin();
    let stranger = w.wallet();
    assert_refused(
        w.withdraw_fees(&stranger, &stranger.pubkey()),
        ChainferenceError::NotAdmin,
    );
    let before = w.h.lamports(&stranger.pubkey());
    assert_ok(w.withdraw_fees(&admin, &stranger.pubkey()));
    assert_eq!(w.h.lamports(&stranger.pubkey()), before + fees);
    assert_eq!(
        w.h.lamports(&treasury),
        floor,
        "never below the rent-exempt minimum"
    );
    assert_refused(
        w.withdraw_fees(&admin, &stranger.pubkey()),
        ChainferenceError::NothingToWithdraw,
    );

    // The role moves only when the proposed key accepts it.
    let successor = w.wallet();
    let propose = |by: &Keypair, to: &Pubkey| {
        chainference_client_core::instructions::propose_admin(&by.pubkey(), to)
    };
    let accept = |by: &Keypair| chainference_client_core::instructions::accept_admin(&by.pubkey());
    assert_refused(
        w.h.send(&[propose(&stranger, &stranger.pubkey())], &stranger, &[]),
        ChainferenceError::NotAdmin,
    );
    assert_ok(w.h.send(&[propose(&admin, &successor.pubkey())], &admin, &[]));
    assert_refused(
        w.h.send(&[accept(&stranger)], &stranger, &[]),
        ChainferenceError::NotProposedAdmin,
    );
    assert_ok(w.update_config(&admin, chainference::state::ConfigParams::with_fee(0)));
    assert_ok(w.h.send(&[accept(&successor)], &successor, &[]));
    assert_refused(
        w.update_config(&admin, chainference::state::ConfigParams::with_fee(0)),
        ChainferenceError::NotAdmin,
    );
    assert_ok(w.update_config(&successor, chainference::state::ConfigParams::with_fee(0)));
    assert_refused(
        w.h.send(&[accept(&successor)], &successor, &[]),
        ChainferenceError::NotProposedAdmin,
    );
}
