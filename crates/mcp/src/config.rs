//! Settings of the endpoint, filled by the glue from Spin variables.

use std::time::Duration;

/// Everything the protocol logic needs to know about this deployment.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// `serverInfo.name`.
    pub server_name: String,
    /// `serverInfo.version`.
    pub server_version: String,
    /// `serverInfo.title`, shown by clients.
    pub server_title: Option<String>,
    /// `instructions` for the model, in `initialize` and `server/discover`.
    pub instructions: Option<String>,
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// Largest accepted POST body; larger ones get 413.
    pub max_body_bytes: usize,
    /// The public origin clients use (`scheme://host[:port]`, from the `public_url` variable).
    /// Its host is accepted in `Host`, and it is accepted as a browser `Origin`.
    pub public_origin: Option<String>,
    /// Further browser origins to accept (exact `scheme://host[:port]`).
    pub extra_origins: Vec<String>,
    /// The legacy HTTP+SSE stream.
    pub stream: StreamConfig,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            server_name: "kintone-mcp".to_owned(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            server_title: Some("kintone".to_owned()),
            instructions: None,
            page_size: 100,
            // Fermyon Cloud and Akamai cap request bodies at 10 MB; base64 file uploads are
            // the largest legitimate bodies.
            max_body_bytes: 8 * 1024 * 1024,
            public_origin: None,
            extra_origins: Vec::new(),
            stream: StreamConfig::default(),
        }
    }
}

/// Timing of the legacy SSE stream (`GET /sse`).
///
/// A stream lives `max_duration`, then stops accepting messages and keeps draining replies
/// already accepted for `drain_grace`, then ends; clients reconnect and get a new session.
/// Hosted Spin platforms (Fermyon Cloud, Akamai Functions) end every request after 30 s, so
/// there `max_duration + drain_grace` must stay below 30 s: use
/// [`StreamConfig::for_30s_platforms`] (25 s + 2 s). Self-hosted `spin up` and SpinKube have no
/// such limit; the default keeps a stream for 5 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    pub max_duration: Duration,
    pub drain_grace: Duration,
    /// A `: keep-alive` comment after this much silence (also how a closed client is noticed).
    pub keepalive_interval: Duration,
    /// The pause between polls backs off with the quiet: it is the time since the
    /// stream opened or last delivered a reply divided by `poll_backoff`, kept within
    /// `min_poll_interval` and `max_poll_interval` (see [`StreamConfig::poll_pause`]). Clients
    /// send their next request right after a reply, so the stream looks often then; an
    /// assistant that thinks for seconds meets the idle pace, where a reply waits on average
    /// half of `max_poll_interval`, a small part of the time it thought.
    pub min_poll_interval: Duration,
    pub max_poll_interval: Duration,
    pub poll_backoff: u32,
    /// A full pass over the mailbox slots at least this often, woken or not (a message whose
    /// wake-up was missed is still found, and claimed slots still time out).
    pub full_scan_interval: Duration,
    /// How long a claimed mailbox slot may stay without its message before the stream closes
    /// it (the writer, if alive, re-posts elsewhere; see [`crate::mailbox`]).
    pub suspect_timeout: Duration,
    /// How often the stream tells the store it is alive (one record write).
    pub heartbeat_interval: Duration,
    /// A session whose stream has not beaten for this long is gone: its instance died without
    /// closing it (a killed host), so a message POSTed to it could never be delivered. It gets
    /// 404 and the client reconnects. Several heartbeats, plus slack for clocks between instances.
    pub stale_after: Duration,
    /// Path the `endpoint` event points to (relative, same origin as the stream).
    pub message_path: String,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            max_duration: Duration::from_secs(300),
            drain_grace: Duration::from_secs(2),
            keepalive_interval: Duration::from_secs(10),
            min_poll_interval: Duration::from_millis(1),
            max_poll_interval: Duration::from_millis(50),
            poll_backoff: 10,
            full_scan_interval: Duration::from_secs(1),
            suspect_timeout: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(2),
            stale_after: Duration::from_secs(10),
            message_path: "/sse/message".to_owned(),
        }
    }
}

impl StreamConfig {
    /// The setting for platforms that end requests after 30 s.
    pub fn for_30s_platforms() -> Self {
        StreamConfig {
            max_duration: Duration::from_secs(25),
            ..StreamConfig::default()
        }
    }

    /// The pause before the next poll after `quiet` without a delivery.
    pub fn poll_pause(&self, quiet: Duration) -> Duration {
        (quiet / self.poll_backoff.max(1)).clamp(self.min_poll_interval, self.max_poll_interval)
    }

    /// A stream's whole life, including the drain.
    pub fn total_duration(&self) -> Duration {
        self.max_duration + self.drain_grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_pause_is_a_tenth_of_the_quiet_between_1_and_50_ms() {
        let config = StreamConfig::default();
        let pause = |ms| config.poll_pause(Duration::from_millis(ms)).as_millis();
        assert_eq!(pause(0), 1, "right after a reply");
        assert_eq!(pause(15), 1);
        assert_eq!(pause(20), 2);
        assert_eq!(pause(100), 10);
        assert_eq!(pause(499), 49);
        assert_eq!(pause(500), 50, "half a second quiet: the idle pace");
        assert_eq!(pause(60_000), 50);
    }

    #[test]
    fn hosted_setting_ends_streams_before_the_30s_cut() {
        assert!(StreamConfig::for_30s_platforms().total_duration() < Duration::from_secs(30));
        assert!(StreamConfig::default().total_duration() > Duration::from_secs(30));
    }
}
