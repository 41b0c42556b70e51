//! A switch in front of the shared node's JSON-RPC and PubSub, for fault injection: switched
//! off, its ports refuse connections and every open connection is cut, as when the node is
//! down or restarting; switched on, it forwards to the node again.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The node behind a switch.
pub struct NodeSwitch {
    /// The JSON-RPC URL through the switch.
    pub rpc_url: String,
    /// The PubSub URL through the switch.
    pub pubsub_url: String,
    on: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for NodeSwitch {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|task| task.abort());
    }
}

impl NodeSwitch {
    /// A switch in front of the node at `rpc_url` and `pubsub_url`, starting `on` or off.
    pub async fn start(rpc_url: &str, pubsub_url: &str, on: bool) -> Self {
        let (switch, _) = watch::channel(on);
        let mut tasks = Vec::new();
        let mut ports = Vec::new();
        for url in [rpc_url, pubsub_url] {
            let upstream = address_of(url);
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            ports.push(port);
            tasks.push(tokio::spawn(forward(port, upstream, switch.subscribe())));
        }
        Self {
            rpc_url: format!("http://127.0.0.1:{}", ports[0]),
            pubsub_url: format!("ws://127.0.0.1:{}", ports[1]),
            on: switch,
            tasks,
        }
    }

    /// Turns the node on (reachable) or off (refused, open connections cut).
    pub fn set(&self, on: bool) {
        self.on.send_replace(on);
    }
}

fn address_of(url: &str) -> SocketAddr {
    let host_port = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a URL with a host");
    host_port.parse().expect("a local node's address")
}

/// Listens on `port` while the switch is on, forwarding each connection to `upstream`.
async fn forward(port: u16, upstream: SocketAddr, mut on: watch::Receiver<bool>) {
    loop {
        if on.wait_for(|on| *on).await.is_err() {
            return;
        }
        let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let mut off = on.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    tokio::spawn(relay(client, upstream, on.clone()));
                }
                _ = off.wait_for(|on| !*on) => break, // off: the listener closes
            }
        }
    }
}

/// Relays one connection until either side closes or the switch goes off.
async fn relay(mut client: TcpStream, upstream: SocketAddr, mut on: watch::Receiver<bool>) {
    let Ok(mut node) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut node) => {}
        _ = on.wait_for(|on| !*on) => {} // off: both ends drop
    }
}
