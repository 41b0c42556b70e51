//! The local node over the real JSON-RPC: our program, spl-account-compression and spl-noop run
//! as builtins inside solana-test-validator, cross-program invocations included.

use anchor_lang::AccountDeserialize;
use chainference::compression::tree_fill;
use chainference::pda::{config_address, server_address};
use chainference::state::{Config, ModelOffer, Server, ServerParams};
use chainference_cli::localnet::LocalNode;
use chainference_client::instructions::{create_tree, register_server};
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;

#[test]
fn a_server_registers_and_creates_its_tree_through_rpc() {
    let node = LocalNode::start(None).expect("the local node starts");
    let rpc = node.rpc();
    let config = rpc
        .get_account(&config_address())
        .expect("the config exists");
    let config = Config::try_deserialize(&mut config.data.as_slice()).expect("a Config");
    assert_eq!(config.admin, chainference::constants::ADMIN);

    let operator = Keypair::new();
    node.fund(&operator.pubkey(), 2_000_000_000)
        .expect("funded");
    let params = ServerParams {
        models: vec![ModelOffer {
            id: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
            revision: "main".into(),
            quantization: "Q4_1".into(),
            context_length: 2_048,
            input_price: 1_000_000,
            output_price: 2_000_000,
            min_stake: 0,
        }],
        endpoint: String::new(),
        max_concurrent: 4,
    };
    let tree = Keypair::new();
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(chainference::compression::tree_account_len(14, 64))
        .expect("rent");
    let [create, init] = create_tree(&operator.pubkey(), &tree.pubkey(), 14, 64, rent);
    let ixs = [register_server(&operator.pubkey(), params), create, init];
    let blockhash = rpc.get_latest_blockhash().expect("a blockhash");
    let tx = Transaction::new_signed_with_payer(
        &ixs,
        Some(&operator.pubkey()),
        &[&operator, &tree],
        blockhash,
    );
    rpc.send_and_confirm_transaction(&tx)
        .expect("register and create the tree");

    let server = rpc
        .get_account(&server_address(&operator.pubkey()))
        .expect("the server exists");
    let server = Server::try_deserialize(&mut server.data.as_slice()).expect("a Server");
    assert_eq!(server.trees, vec![tree.pubkey()]);
    // spl-account-compression initialized the tree through the CPI: an empty depth-14 tree.
    let tree_account = rpc.get_account(&tree.pubkey()).expect("the tree exists");
    assert_eq!(
        tree_account.owner,
        chainference::compression::COMPRESSION_PROGRAM_ID
    );
    assert_eq!(
        tree_fill(&tree_account.data).expect("an initialized tree"),
        (0, 1 << 14)
    );
}
