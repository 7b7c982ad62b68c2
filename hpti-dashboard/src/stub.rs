//! A stand-in store for the unit tests.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use hpti_core::event::{Event, EventId};
use hpti_store::{
    AttackerDetail, AttackerSummary, CommandCount, CredentialCount, Cursor, DownloadSummary,
    EventFilter, EventPage, EventQueries, SessionDetail, SessionSummary, StoreError, Window,
};

/// A store whose position the test moves; it answers empty rankings and records which
/// it was asked for.
#[derive(Default)]
pub(crate) struct Moving {
    /// What [`EventQueries::position`] answers.
    pub position: AtomicU64,
    /// The rankings asked for: which, and for what window.
    pub asked: Mutex<Vec<(&'static str, Window)>>,
}

impl Moving {
    fn ask(&self, what: &'static str, window: Window) {
        self.asked.lock().unwrap().push((what, window));
    }
}

#[async_trait]
impl EventQueries for Moving {
    async fn sessions(&self, window: Window) -> Result<Vec<SessionSummary>, StoreError> {
        self.ask("sessions", window);
        Ok(vec![])
    }
    async fn attackers(&self, window: Window) -> Result<Vec<AttackerSummary>, StoreError> {
        self.ask("attackers", window);
        Ok(vec![])
    }
    async fn credentials(&self, window: Window) -> Result<Vec<CredentialCount>, StoreError> {
        self.ask("credentials", window);
        Ok(vec![])
    }
    async fn commands(&self, window: Window) -> Result<Vec<CommandCount>, StoreError> {
        self.ask("commands", window);
        Ok(vec![])
    }
    async fn downloads(&self, window: Window) -> Result<Vec<DownloadSummary>, StoreError> {
        self.ask("downloads", window);
        Ok(vec![])
    }
    async fn count_events(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn events(
        &self,
        window: Window,
        _: &EventFilter,
        _: Option<&Cursor>,
    ) -> Result<EventPage, StoreError> {
        Ok(EventPage::from_overfetch(vec![], window.limit))
    }
    async fn event(&self, id: EventId) -> Result<Event, StoreError> {
        Err(StoreError::NotFound(id.to_string()))
    }
    async fn session(&self, session: &str) -> Result<SessionDetail, StoreError> {
        Err(StoreError::NotFound(session.into()))
    }
    async fn attacker(&self, ip: IpAddr) -> Result<AttackerDetail, StoreError> {
        Err(StoreError::NotFound(ip.to_string()))
    }
    async fn position(&self) -> Result<Option<u64>, StoreError> {
        Ok(Some(self.position.load(Ordering::SeqCst)))
    }
}
