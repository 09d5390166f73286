//! The connection to Redis: one server (or a proxy, or a Sentinel-managed primary), or a
//! Redis Cluster.
//!
//! Invariants:
//! - Both kinds connect lazily: a Redis that is down at start fails operations (and the
//!   next one tries again), never the start.
//! - Every command the store sends names at most one key (or keys of one hash tag), so in
//!   a cluster it goes where that key's slot lives; the cluster client follows `MOVED` and
//!   `ASK`. What spans keys — listing, clearing — `SCAN`s each of
//!   [`Connection::servers`], which are every primary of a cluster.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ConnectionInfo, FromRedisValue, Pipeline, RedisError, RedisFuture, Value};
use tokio::sync::OnceCell;

/// A cloneable connection; clones share the underlying one.
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(Arc<LazyCluster>),
}

/// A cluster connection made on first use, and again after a failed attempt.
pub(super) struct LazyCluster {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

impl Connection {
    /// A cluster reached through `seed` (any of its nodes), with `timeout` for connecting
    /// and for each answer.
    pub(super) fn cluster(
        seed: ConnectionInfo,
        timeout: Duration,
    ) -> Result<Connection, RedisError> {
        let client = ClusterClient::builder(vec![seed])
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(1)
            .build()?;
        Ok(Connection::Cluster(Arc::new(LazyCluster {
            client,
            connection: OnceCell::new(),
        })))
    }

    /// The servers that together hold every key: the one server, or each primary of a
    /// cluster (what `SCAN` must visit).
    pub(super) async fn servers(&self) -> Result<Vec<Server>, RedisError> {
        match self {
            Connection::Single(_) => Ok(vec![Server::Any]),
            Connection::Cluster(lazy) => {
                let mut nodes = redis::cmd("CLUSTER");
                nodes.arg("NODES");
                let random = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
                let answer = lazy.get().await?.route_command(nodes, random).await?;
                let text: String = redis::from_redis_value(answer)?;
                Ok(primaries(&text))
            }
        }
    }

    /// Send `cmd` to `server`.
    pub(super) async fn query_on<T: FromRedisValue>(
        &self,
        server: &Server,
        cmd: Cmd,
    ) -> Result<T, RedisError> {
        match (self, server) {
            (Connection::Cluster(lazy), Server::Primary { host, port }) => {
                let address = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let answer = lazy.get().await?.route_command(cmd, address).await?;
                Ok(redis::from_redis_value(answer)?)
            }
            (connection, _) => cmd.query_async(&mut connection.clone()).await,
        }
    }
}

/// One server `SCAN` visits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Server {
    /// Wherever the connection leads (the one server).
    Any,
    /// A primary of a cluster.
    Primary { host: String, port: u16 },
}

/// The primaries that hold slots, from `CLUSTER NODES`
/// (`<id> <ip:port@bus[,hostname]> <flags> <primary> ... <slots>...`); failed ones are
/// left out (their slots move to another node).
fn primaries(cluster_nodes: &str) -> Vec<Server> {
    cluster_nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags: Vec<&str> = fields.get(2)?.split(',').collect();
            let serving = flags.contains(&"master")
                && !flags.iter().any(|flag| matches!(*flag, "fail" | "noaddr"))
                && fields.len() > 8;
            if !serving {
                return None;
            }
            let address = fields.get(1)?.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some(Server::Primary {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port: port.parse().ok()?,
            })
        })
        .collect()
}

impl LazyCluster {
    async fn get(&self) -> Result<ClusterConnection, RedisError> {
        let connection = self
            .connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await?;
        Ok(connection.clone())
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(single) => single.req_packed_command(cmd),
            Connection::Cluster(lazy) => Box::pin(async move {
                let mut connection = lazy.get().await?;
                connection.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(single) => single.req_packed_commands(cmd, offset, count),
            Connection::Cluster(lazy) => Box::pin(async move {
                let mut connection = lazy.get().await?;
                connection.req_packed_commands(cmd, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(single) => single.get_db(),
            Connection::Cluster(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primaries_that_serve_slots() {
        let nodes = "\
07c37dfeb235 127.0.0.1:30004@31004,host-a slave e7d1eecce10f 0 1426238317239 4 connected
67ed2db8d677 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
6ec23923021c 127.0.0.1:30005@31005 master,fail - 1426238316232 0 5 disconnected 1-2
e7d1eecce10f [::1]:30001@31001,host-b myself,master - 0 0 1 connected 0-5460
824fe116063b 127.0.0.1:30006@31006 master - 0 1426238316232 6 connected
";
        let primary = |host: &str, port| Server::Primary {
            host: host.to_owned(),
            port,
        };
        assert_eq!(
            primaries(nodes),
            [
                primary("127.0.0.1", 30002),
                primary("127.0.0.1", 30003),
                primary("::1", 30001),
            ]
        );
        assert!(primaries("").is_empty());
        assert!(primaries("garbage\n1 2 master 4 5 6 7 8 9\n").is_empty());
    }
}
