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

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    /// Sending instance (its own events are skipped).
    from: String,
    #[serde(flatten)]
    event: RevocationEvent,
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
        let mut delay = Duration::from_millis(200);
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(&channel).await.is_ok() {
                        delay = Duration::from_millis(200);
                        if let Err(e) = revocations.sync(store.as_ref(), clock.now()).await {
                            tracing::warn!(error = %e, "revocation resync after subscribe failed");
                        }
                        tracing::info!("subscribed to revocation fan-out");
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            let Ok(payload) = msg.get_payload::<String>() else { continue };
                            match serde_json::from_str::<Envelope>(&payload) {
                                Ok(env) if env.from != me => revocations.apply(&env.event),
                                Ok(_) => {}
                                Err(_) => tracing::warn!("ignored a malformed revocation message"),
                            }
                        }
                        tracing::warn!("revocation fan-out subscription lost; reconnecting");
                    }
                }
                Err(e) => tracing::warn!(error = %e.category(), "cannot subscribe to revocation fan-out; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    });
    vec![publisher, subscriber]
}
