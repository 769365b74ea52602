//! `fake-cybozu --listen 127.0.0.1:PORT [--data FILE] …`: serves the fake until interrupted and
//! prints its base URL on stdout, one line, once it accepts connections.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fake_cybozu::{FakeConfig, FakeCybozu, SeedData};

#[derive(Parser, Debug)]
#[command(
    name = "fake-cybozu",
    about = "A fake cybozu.com (Cybozu OAuth 2.0 + kintone REST API) for tests and a local sandbox"
)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed data (JSON); the bundled fixture when omitted.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    token_lifetime: u64,
    #[arg(long, default_value = "kintone-mcp-test")]
    client_id: String,
    #[arg(long, default_value = "test-secret")]
    client_secret: String,
    /// The OAuth client's redirect endpoint; repeat for several.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Approve authorization requests at once as this user.
    #[arg(long, default_value = "alice", conflicts_with = "sign_in_page")]
    approve_as: String,
    /// Show the sign-in page instead of approving at once.
    #[arg(long)]
    sign_in_page: bool,
    /// Deploy-status polls that answer PROCESSING after a deploy.
    #[arg(long, default_value_t = 1)]
    deploy_processing_polls: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let defaults = FakeConfig::default();
    let config = FakeConfig {
        listen: Some(args.listen),
        data: args.data.map(SeedData::File).unwrap_or_default(),
        client_id: args.client_id,
        client_secret: args.client_secret,
        redirect_uris: if args.redirect_uris.is_empty() {
            defaults.redirect_uris.clone()
        } else {
            args.redirect_uris
        },
        token_lifetime: Duration::from_secs(args.token_lifetime),
        auto_approve_user: if args.sign_in_page { None } else { Some(args.approve_as) },
        deploy_processing_polls: args.deploy_processing_polls,
        ..defaults
    };
    let fake = FakeCybozu::start(config).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", fake.base_url())?;
    stdout.flush()?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = fake.wait() => {}
    }
    Ok(())
}
