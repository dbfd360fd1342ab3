//! The spawned servers of a run: one node, or `--nodes N` nodes on one Redis engine with the same
//! secret, serving one feed. Subscribers are spread over the nodes; the publisher uses node 0.

use anyhow::{Context, ensure};
use socfeed_server::Engine;

use super::target::{SpawnArgs, SpawnedServer, Target};

/// `socfeed serve` children, started together and killed together.
pub(super) struct Cluster {
    nodes: Vec<SpawnedServer>,
}

impl Cluster {
    /// Starts `args.nodes` servers one after the other, each waiting for `/readyz`.
    pub(super) async fn start(
        args: &SpawnArgs,
        secret: &str,
        connections: usize,
    ) -> anyhow::Result<Cluster> {
        check_nodes(args.nodes, &args.engine)?;
        let mut nodes = Vec::with_capacity(args.nodes);
        for index in 0..args.nodes {
            match SpawnedServer::start(args, secret, connections).await {
                Ok(node) => nodes.push(node),
                Err(e) => {
                    Cluster { nodes }.stop().await?;
                    return Err(e).with_context(|| format!("starting node {index}"));
                }
            }
        }
        Ok(Cluster { nodes })
    }

    /// The nodes' addresses, node 0 first.
    pub(super) fn targets(&self) -> Vec<Target> {
        self.nodes.iter().map(|n| n.target().clone()).collect()
    }

    pub(super) fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(SpawnedServer::pid).collect()
    }

    /// Kills every node.
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        let mut first_error = None;
        for node in self.nodes {
            if let Err(e) = node.stop().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// More than one node only shares a feed through Redis; the local engines are one node's own.
pub(super) fn check_nodes(nodes: usize, engine: &Engine) -> anyhow::Result<()> {
    ensure!(nodes >= 1, "--nodes must be at least 1");
    ensure!(
        nodes == 1 || matches!(engine, Engine::Redis(_)),
        "--nodes {nodes} needs a redis:// --engine: the {engine} engine is one node's own"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_nodes_need_redis() {
        assert!(check_nodes(1, &Engine::Embedded).is_ok());
        assert!(check_nodes(3, &Engine::Embedded).is_err());
        assert!(check_nodes(2, &Engine::Memory).is_err());
        assert!(check_nodes(0, &Engine::Embedded).is_err());
        let redis: Engine = "redis://127.0.0.1:1".parse().unwrap();
        assert!(check_nodes(3, &redis).is_ok());
    }
}
