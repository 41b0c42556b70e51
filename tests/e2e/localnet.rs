//! The local node over the real JSON-RPC: our program, spl-account-compression and spl-noop run
//! as sBPF programs inside solana-test-validator, cross-program invocations included.

use crate::support::*;
use chainference::compression::{tree_account_len, tree_fill, COMPRESSION_PROGRAM_ID};
use chainference::pda::{config_address, server_address};
use chainference::state::{Config, ModelOffer, Server, ServerParams};
use chainference_client::instructions::{create_tree, register_server};
use solana_keypair::Keypair;
use solana_signer::Signer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_registers_and_creates_its_tree_through_rpc() {
    let chain = chain().await;
    let config: Config = chain
        .account(&config_address(), "Config")
        .await
        .unwrap()
        .expect("the config exists");
    assert_eq!(config.admin, chainference::constants::ADMIN);
    assert_eq!(config.params.lock_window_secs, LOCK_WINDOW_SECS);

    let operator = funded(&chain, 2_000_000_000).await;
    let params = ServerParams {
        models: vec![ModelOffer {
            id: "test/localnet".into(),
            revision: "main".into(),
            quantization: "Q4_1".into(),
            weights_sha256: [7; 32],
            context_length: 2_048,
            input_price: 1_000_000,
            output_price: 2_000_000,
            min_stake: 0,
        }],
        endpoint: String::new(),
        max_concurrent: 4,
    };
    let tree = Keypair::new();
    let rent = chain
        .rpc()
        .get_minimum_balance_for_rent_exemption(tree_account_len(14, 64))
        .await
        .unwrap();
    let [create, init] = create_tree(&operator.pubkey(), &tree.pubkey(), 14, 64, rent);
    chain
        .send(
            &[register_server(&operator.pubkey(), params), create, init],
            &operator,
            &[&tree],
        )
        .await
        .expect("register and create the tree");

    let server: Server = chain
        .account(&server_address(&operator.pubkey()), "Server")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(server.trees, vec![tree.pubkey()]);
    // spl-account-compression initialized the tree through the CPI: an empty depth-14 tree.
    let tree_account = chain
        .rpc()
        .get_account(&tree.pubkey())
        .await
        .expect("the tree exists");
    assert_eq!(tree_account.owner, COMPRESSION_PROGRAM_ID);
    assert_eq!(
        tree_fill(&tree_account.data).expect("an initialized tree"),
        (0, 1 << 14)
    );
}

/// A lone local node leads every slot, and Agave's banking scheduler polls without pause while
/// its node leads: two thirds of a core of this 2-core machine, taken from the inference beside
/// it. Every such thread in this process (the shared node's and any other test's node once
/// started) runs under `SCHED_IDLE` (Linux: elsewhere the node leaves it as it is).
#[cfg(target_os = "linux")]
#[test]
fn the_nodes_polling_scheduler_gives_way_to_inference() {
    node();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let policies = scheduler_policies();
        assert!(!policies.is_empty(), "the node runs a banking scheduler");
        if policies
            .iter()
            .all(|&policy| policy == i64::from(libc::SCHED_IDLE))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the banking scheduler threads run under scheduling policies {policies:?}, not \
             SCHED_IDLE ({})",
            libc::SCHED_IDLE
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// The scheduling policy of each of this process's threads named as Agave names its banking
/// scheduler.
#[cfg(target_os = "linux")]
fn scheduler_policies() -> Vec<i64> {
    let mut policies = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("Linux lists threads in /proc") {
        let path = task.expect("a thread's entry").path();
        // A thread that ended between the listing and these reads is skipped.
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue;
        };
        if name.trim_end() != "solBnkTxSched" {
            continue;
        }
        // Fields after the command's closing parenthesis start at the third (state); the
        // scheduling policy is the forty-first.
        let after_name = &stat[stat.rfind(')').expect("stat names the command") + 1..];
        let policy = after_name
            .split_whitespace()
            .nth(38)
            .expect("stat has a policy field");
        policies.push(policy.parse().expect("the policy is a number"));
    }
    policies
}
