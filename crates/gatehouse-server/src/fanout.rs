//! Revocation fan-out over Redis pub/sub. Every revocation an instance makes is published;
//! every instance applies the others' to its in-memory view, so a revoked token is refused
//! everywhere within moments while the per-request check stays a local lookup. When the
//! subscription (re)connects, the instance resynchronises from the database, so events
//! missed while Redis was away are not lost.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt as _;
use gatehouse_core::Clock;
use gatehouse_store::{RedisClient, Storage};
use tokio::sync::mpsc;

use crate::revocation::{RevocationEvent, Revocations};

/// First delay before re-subscribing after the subscription is lost; doubles per failure.
const RETRY_MIN: Duration = Duration::from_millis(200);
/// Longest delay between re-subscription attempts: a returning Redis is noticed within this
/// (plus [`CONNECT_TIMEOUT`]), and then the resync from the database runs.
const RETRY_MAX: Duration = Duration::from_secs(2);
/// Bound on connecting and subscribing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    /// Sending instance (its own events are skipped).
    from: String,
    #[serde(flatten)]
    event: RevocationEvent,
}

/// Reloads the revocation view from the database after (re)subscribing, retrying while the
/// database is unreachable too, so a double outage does not leave the view stale until the
/// periodic sync.
async fn resync(revocations: Arc<Revocations>, store: Arc<dyn Storage>, clock: Arc<dyn Clock>) {
    loop {
        match revocations.sync(store.as_ref(), clock.now()).await {
            Ok(()) => {
                tracing::info!("revocation view resynchronised from the database");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "revocation resync after subscribe failed; retrying"),
        }
        tokio::time::sleep(RETRY_MAX).await;
    }
}

/// Starts the publisher and subscriber tasks; returns their handles.
pub fn start(
    client: RedisClient,
    channel: String,
    revocations: Arc<Revocations>,
    store: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let me = uuid::Uuid::new_v4().to_string();
    let (tx, mut rx) = mpsc::unbounded_channel::<RevocationEvent>();
    revocations.publish_to(tx);
    let publisher = {
        let (client, channel, me) = (client.clone(), channel.clone(), me.clone());
        tokio::spawn(async move {
            let mut conn = None;
            while let Some(event) = rx.recv().await {
                let payload = match serde_json::to_string(&Envelope { from: me.clone(), event }) {
                    Ok(p) => p,
                    Err(_) => continue,
                };
                if conn.is_none() {
                    conn = gatehouse_store::redis_connection(&client).await.ok();
                }
                let sent = match conn.as_mut() {
                    Some(c) => redis::cmd("PUBLISH").arg(&channel).arg(&payload).query_async::<i64>(c).await.is_ok(),
                    None => false,
                };
                if !sent {
                    // Other instances catch up from the database on their periodic sync.
                    tracing::warn!("could not publish a revocation to Redis; peers will see it on their next sync");
                }
            }
        })
    };
    let subscriber = tokio::spawn(async move {
        let mut delay = RETRY_MIN;
        loop {
            // Bounded: an unresponsive (not refusing) Redis must not stall the retry loop.
            let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            })
            .await;
            match connected {
                Ok(Ok(mut pubsub)) => {
                    delay = RETRY_MIN;
                    tracing::info!("subscribed to revocation fan-out");
                    // Subscribed first, then resynchronised: nothing falls between the two.
                    let resync = tokio::spawn(resync(Arc::clone(&revocations), Arc::clone(&store), Arc::clone(&clock)));
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else { continue };
                        match serde_json::from_str::<Envelope>(&payload) {
                            Ok(env) if env.from != me => revocations.apply(&env.event),
                            Ok(_) => {}
                            Err(_) => tracing::warn!("ignored a malformed revocation message"),
                        }
                    }
                    resync.abort();
                    tracing::warn!("revocation fan-out subscription lost; reconnecting");
                }
                Ok(Err(e)) => tracing::warn!(error = %e.category(), "cannot subscribe to revocation fan-out; retrying"),
                Err(_) => tracing::warn!("subscribing to revocation fan-out timed out; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
    });
    vec![publisher, subscriber]
}
