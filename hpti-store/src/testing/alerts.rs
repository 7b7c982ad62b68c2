//! The conformance suite of an [`AlertStore`]: every backend that keeps alerts runs it.

// A conformance suite fails by panicking, like the assertions around it.
#![allow(clippy::unwrap_used)]

use hpti_core::alert::{Alert, Severity};
use hpti_core::alert_store::{
    Acknowledgement, AlertStore, LabelMatcher, NotificationRecord, Silence, StoredAlert,
};
use hpti_core::event::Timestamp;

fn at(seconds: i64) -> Timestamp {
    Timestamp::now().saturating_add_micros(seconds * 1_000_000)
}

/// Alerts are kept by fingerprint and listed newest first; a fingerprint prefix finds one;
/// an acknowledgement (written only by `acknowledge`) and a resolve are kept, and a new
/// episode starts unacknowledged; the notification log keeps the last
/// delivery per group and notifier; silences are kept by id and listed newest first.
/// Attacker-chosen text (NUL, quotes, markup) comes back unchanged.
pub async fn alert_store_conformance(store: &dyn AlertStore) {
    let hostile = "x'); DROP TABLE alerts; --\u{0}<script>\u{202e}";
    let first = Alert::new("brute", Severity::High, "203.0.113.7", "first", at(-60))
        .with_label("src_ip", "203.0.113.7");
    let second = Alert::new("malware", Severity::Critical, hostile, hostile, at(-30))
        .with_annotation("url", hostile);
    let mut a = StoredAlert::new(first.clone(), at(-60));
    let b = StoredAlert::new(second.clone(), at(-30));
    store.save_alert(&a).await.unwrap();
    store.save_alert(&b).await.unwrap();

    let listed = store.alerts(false, 10).await.unwrap();
    assert_eq!(
        listed,
        vec![b.clone(), a.clone()],
        "newest first, unchanged"
    );
    assert_eq!(store.alerts(false, 1).await.unwrap(), vec![b.clone()]);

    // Acknowledged, then resolved: the same row, updated. Only `acknowledge` writes an
    // acknowledgement: saving an alert (from the manager's memory) keeps the stored one.
    let ack = Acknowledgement {
        by: "analyst".into(),
        at: at(-10),
    };
    assert!(
        store
            .acknowledge(&first.fingerprint.to_string(), &ack)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acknowledge("00000000000000000000000000000000", &ack)
            .await
            .unwrap(),
        "no such alert"
    );
    a.notified_at = Some(at(-50));
    a.alert = first.clone().resolved_at(at(-5));
    a.updated_at = at(-5);
    store.save_alert(&a).await.unwrap();
    a.acked = Some(ack.clone());
    assert_eq!(
        store.alerts(false, 10).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store.alerts(true, 10).await.unwrap(),
        vec![b.clone()],
        "only firing"
    );

    // Several at once (one transaction where the store has them).
    let mut a2 = a.clone();
    a2.updated_at = at(-4);
    let mut b2 = b.clone();
    b2.updated_at = at(-3);
    b2.escalated_at = Some(at(-3));
    store.save_alerts(&[a2.clone(), b2.clone()]).await.unwrap();
    assert_eq!(
        store.alerts(false, 10).await.unwrap(),
        vec![b2.clone(), a2.clone()]
    );
    store.save_alerts(&[a.clone(), b.clone()]).await.unwrap();

    let fp = first.fingerprint.to_string();
    assert_eq!(store.alert(&fp).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.alert(&fp[..8]).await.unwrap(),
        Some(a.clone()),
        "by prefix"
    );
    assert_eq!(
        store.alert(&fp.to_uppercase()[..12]).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.alert(&fp[..7]).await.unwrap(),
        None,
        "too short a prefix"
    );
    assert_eq!(store.alert("not hex!").await.unwrap(), None);
    assert_eq!(
        store
            .alert("00000000000000000000000000000000")
            .await
            .unwrap(),
        None
    );

    // The notification log: the last delivery of each group to each notifier.
    assert_eq!(store.last_notification("g", "hook").await.unwrap(), None);
    let sent = NotificationRecord::new("g", "hook", vec![first.fingerprint], vec![], at(-40));
    store.save_notification(&sent).await.unwrap();
    let again = NotificationRecord::new(
        "g",
        "hook",
        vec![second.fingerprint, first.fingerprint],
        vec![],
        at(-20),
    );
    store.save_notification(&again).await.unwrap();
    let other = NotificationRecord::new(hostile, "mail", vec![], vec![first.fingerprint], at(-1));
    store.save_notification(&other).await.unwrap();
    assert_eq!(
        store.last_notification("g", "hook").await.unwrap(),
        Some(again)
    );
    assert_eq!(
        store.last_notification(hostile, "mail").await.unwrap(),
        Some(other)
    );
    assert_eq!(store.last_notification("g", "mail").await.unwrap(), None);

    // An acknowledgement in a saved record is not the store's: it is ignored.
    let mut forged = b.clone();
    forged.acked = Some(ack.clone());
    store.save_alert(&forged).await.unwrap();
    assert_eq!(
        store.alert(&second.fingerprint.to_string()).await.unwrap(),
        Some(b.clone())
    );
    // Firing again after the resolve: a new episode, not acknowledged; while it fires,
    // saves keep its acknowledgement.
    let again = StoredAlert::new(first.clone().starting_at(at(-2)), at(-2));
    store.save_alert(&again).await.unwrap();
    assert_eq!(store.alert(&fp).await.unwrap(), Some(again.clone()));
    assert!(store.acknowledge(&fp, &ack).await.unwrap());
    let mut later = again.clone();
    later.updated_at = at(-1);
    store.save_alert(&later).await.unwrap();
    later.acked = Some(ack.clone());
    assert_eq!(store.alert(&fp).await.unwrap(), Some(later));

    // Silences: kept by id, newest first, an expiry is an update.
    let older = Silence::new(
        vec![LabelMatcher::parse("rule=brute").unwrap()],
        at(-100),
        at(3600),
        "analyst",
        hostile,
    );
    let newer = Silence::new(
        vec![LabelMatcher::parse("src_ip=~203\\.0\\.113\\..*").unwrap()],
        at(-50),
        at(60),
        "analyst",
        "scanner",
    );
    store.save_silence(&older).await.unwrap();
    store.save_silence(&newer).await.unwrap();
    assert_eq!(
        store.silences().await.unwrap(),
        vec![newer.clone(), older.clone()]
    );
    let mut expired = older.clone();
    expired.ends_at = at(-1);
    store.save_silence(&expired).await.unwrap();
    assert_eq!(store.silences().await.unwrap(), vec![newer, expired]);
}
