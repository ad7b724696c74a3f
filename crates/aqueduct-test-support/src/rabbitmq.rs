//! A RabbitMQ node of a test's own: the machine's RabbitMQ on a port, a
//! node name and a data directory of its own, no plugins. For tests that
//! restart the broker, and for tests whose queue name is fixed (compiled
//! into a generated service), so that the queue is fresh and no concurrent
//! run shares it.

use crate::Daemon;

/// Starts a private RabbitMQ node and waits until it listens; its
/// `guest` user connects at [`amqp_url`]. `RUNNING_UNDER_SYSTEMD` makes
/// the start script `exec` the Erlang VM, so that the process the
/// [`Daemon`] holds is the node itself: SIGTERM stops it cleanly, SIGKILL
/// when dropped leaves nothing. Fails when RabbitMQ is not installed.
pub fn rabbitmq() -> Result<Daemon, String> {
    Daemon::start_with_env(
        &["/usr/lib/rabbitmq/bin/rabbitmq-server"],
        &[],
        &[
            ("RUNNING_UNDER_SYSTEMD", "1"),
            ("RABBITMQ_NODENAME", "aqueduct-test-{port}@localhost"),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"),
            ("RABBITMQ_NODE_PORT", "{port}"),
            ("RABBITMQ_DIST_PORT", "{port2}"),
            ("RABBITMQ_MNESIA_BASE", "{dir}/mnesia"),
            ("RABBITMQ_LOG_BASE", "{dir}/log"),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", "{dir}/enabled_plugins"),
            ("RABBITMQ_CONFIG_FILE", "{dir}/rabbitmq"),
            ("RABBITMQ_PID_FILE", "{dir}/pid"),
        ],
        |_, dir| {
            std::fs::write(dir.join("enabled_plugins"), "[].\n")
                .map_err(|e| format!("enabled_plugins: {e}"))
        },
    )
}

/// The AMQP URL of a node of [`rabbitmq`] (user `guest`, vhost `/`).
pub fn amqp_url(node: &Daemon) -> String {
    format!("amqp://guest:guest@127.0.0.1:{}/%2f", node.port())
}
