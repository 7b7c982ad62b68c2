//! The NATS sink against this machine's JetStream (`HPTI_NATS_URL`, default
//! nats://127.0.0.1:4222): the shared Sink conformance suite, and the duplicate window
//! as this server version applies it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::PullConsumer};
use futures::StreamExt as _;
use hpti_core::component::{BuildContext, ComponentId, SinkConfig as _};
use hpti_core::event::{Event, EventId};
use hpti_core::metrics::PipelineMetrics;
use hpti_nats::NatsSinkConfig;
use hpti_nats::async_nats;
use hpti_nats::setup::{
    ConsumerSettings, SetupOutcome, StreamSettings, ensure_consumer, ensure_stream,
};

async fn shared() -> Option<(String, async_nats::Client)> {
    let url = std::env::var("HPTI_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    match async_nats::connect(&url).await {
        Ok(client) => Some((url, client)),
        Err(e) => {
            if std::env::var("HPTI_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("NATS at {url} is required (HPTI_REQUIRE_SERVICES=1): {e}");
            }
            eprintln!("SKIPPED: no NATS server at {url}: {e}");
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        EventId::new().to_string().replace('-', "")
    )
}

/// Deletes the stream when dropped (passed or failed).
struct Cleanup(jetstream::Context, String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (js, name) = (self.0.clone(), self.1.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let _ = js.delete_stream(&name).await;
                })
        })
        .join();
    }
}

#[tokio::test]
async fn the_nats_sink_passes_the_sink_conformance_suite() {
    let Some((url, client)) = shared().await else {
        return;
    };
    let js = jetstream::new(client);
    let stream = unique("CONF_");
    let subject = unique("conf");
    let _cleanup = Cleanup(js.clone(), stream.clone());
    let settings = StreamSettings {
        max_bytes: 64 * 1024 * 1024,
        ..StreamSettings::new(stream.clone(), vec![format!("{subject}.>")])
    };
    assert_eq!(
        ensure_stream(&js, &settings, false).await.unwrap(),
        SetupOutcome::Created
    );
    assert_eq!(
        ensure_stream(&js, &settings, false).await.unwrap(),
        SetupOutcome::Matches
    );

    let dir = tempfile::tempdir().unwrap();
    let cx = BuildContext::new(
        ComponentId::new("up").unwrap(),
        dir.path(),
        PipelineMetrics::default(),
    );
    let built = NatsSinkConfig {
        url,
        stream: stream.clone(),
        subject: format!("{subject}.{{sensor}}"),
        heartbeat: Duration::ZERO,
        ..NatsSinkConfig::default()
    }
    .build(&cx)
    .await
    .unwrap();
    let count = || {
        let js = js.clone();
        let stream = stream.clone();
        async move {
            js.get_stream(&stream)
                .await
                .unwrap()
                .info()
                .await
                .unwrap()
                .state
                .messages
        }
    };
    let read_back = |id: EventId| {
        let js = js.clone();
        let stream = stream.clone();
        async move {
            let handle = js.get_stream(&stream).await.unwrap();
            let last = handle.cached_info().state.last_sequence;
            for sequence in 1..=last {
                let Ok(message) = handle.get_raw_message(sequence).await else {
                    continue;
                };
                let Ok(event) = serde_json::from_slice::<Event>(&message.payload) else {
                    continue;
                };
                if event.id == id {
                    let header = message
                        .headers
                        .get(async_nats::header::NATS_MESSAGE_ID)
                        .map(|v| v.to_string());
                    assert_eq!(
                        header,
                        Some(id.to_string()),
                        "the event id is the message id"
                    );
                    return Some(event);
                }
            }
            None
        }
    };
    hpti_core::testing::sink_conformance(built.sink.as_ref(), count, read_back).await;
}

#[tokio::test]
async fn jetstream_blocks_a_message_id_for_the_whole_window_even_after_the_ack_and_not_after_it() {
    let Some((_, client)) = shared().await else {
        return;
    };
    let js = jetstream::new(client);
    let stream = unique("DUP_");
    let subject = unique("dup");
    let _cleanup = Cleanup(js.clone(), stream.clone());
    let window = Duration::from_secs(2);
    let settings = StreamSettings {
        max_bytes: 16 * 1024 * 1024,
        duplicate_window: window,
        ..StreamSettings::new(stream.clone(), vec![format!("{subject}.>")])
    };
    ensure_stream(&js, &settings, false).await.unwrap();
    ensure_consumer(&js, &stream, &ConsumerSettings::new("dup"), false)
        .await
        .unwrap();
    let publish = |payload: &'static str| {
        let js = js.clone();
        let subject = format!("{subject}.x");
        async move {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", "event-1");
            js.publish_with_headers(subject, headers, payload.into())
                .await
                .unwrap()
                .await
                .unwrap()
        }
    };
    let messages = || {
        let js = js.clone();
        let stream = stream.clone();
        async move {
            js.get_stream(&stream)
                .await
                .unwrap()
                .info()
                .await
                .unwrap()
                .state
                .messages
        }
    };

    let first = publish("one").await;
    assert!(!first.duplicate);
    assert!(
        publish("two").await.duplicate,
        "a repeat within the window is dropped"
    );
    assert_eq!(messages().await, 1);

    // The center consumes and acknowledges it: the work queue removes it.
    let consumer: PullConsumer = js
        .get_stream(&stream)
        .await
        .unwrap()
        .get_consumer("dup")
        .await
        .unwrap();
    let mut batch = consumer.fetch().max_messages(10).messages().await.unwrap();
    let message = batch.next().await.unwrap().unwrap();
    assert_eq!(&message.payload[..], b"one");
    message.double_ack().await.unwrap();
    assert_eq!(
        messages().await,
        0,
        "acknowledged, removed from the work queue"
    );

    // Still within the window: the id stays blocked although nothing holds it now.
    assert!(
        publish("three").await.duplicate,
        "blocked for the whole window after the ack"
    );
    assert_eq!(messages().await, 0);

    // After the window the same id is a new message: only the sinks' idempotency on the
    // event id keeps it from being stored twice.
    tokio::time::sleep(window + Duration::from_millis(500)).await;
    let late = publish("four").await;
    assert!(!late.duplicate, "after the window the id is new again");
    assert_eq!(messages().await, 1);
    assert!(late.sequence > first.sequence);
}
