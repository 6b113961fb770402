//! The directory as expressions read it: [`crate::expr::Lookup`] over the
//! store's read connections. Each read takes a connection of its own and
//! sees what is committed, so an expression never holds a transaction open
//! and never sees a step's change before it commits.

use serde::Serialize;
use serde_json::Value as Json;

use super::Store;
use crate::directory::{DELETED, DirError, DirectoryReads};

/// The `directory.*` functions' reads, from this store.
pub struct DirectoryLookup(pub Store);

impl DirectoryLookup {
    fn read<T>(
        &self,
        f: impl FnOnce(&dyn DirectoryReads) -> Result<T, DirError>,
    ) -> Result<T, String> {
        self.0
            .read(|tx| f(&*tx.directory()).map_err(crate::error::Error::from))
            .map_err(|e| format!("reading the directory: {e}"))
    }
}

fn json<T: Serialize>(value: T) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

fn all<T: Serialize>(items: Vec<T>) -> Vec<Json> {
    items.into_iter().map(json).collect()
}

impl crate::expr::Lookup for DirectoryLookup {
    fn user(&self, id: &str) -> Result<Option<Json>, String> {
        Ok(self.read(|d| d.user(id))?.map(json))
    }

    fn user_by_email(&self, email: &str) -> Result<Option<Json>, String> {
        Ok(self.read(|d| d.user_by_email(email))?.map(json))
    }

    fn reports(&self, manager: &str) -> Result<Vec<Json>, String> {
        self.read(|d| d.reports_of(manager)).map(all)
    }

    fn grants(&self, user: &str) -> Result<Vec<Json>, String> {
        self.read(|d| d.grants_of(user)).map(all)
    }

    fn has_grant(&self, user: &str, entitlement: &str) -> Result<bool, String> {
        self.read(|d| d.has_grant(user, entitlement))
    }

    fn live_accounts(&self, user: &str) -> Result<Vec<Json>, String> {
        let accounts = self.read(|d| d.accounts_of(user))?;
        Ok(all(accounts
            .into_iter()
            .filter(|a| a.status != DELETED)
            .collect()))
    }

    fn holders(&self, entitlement: &str) -> Result<Vec<Json>, String> {
        self.read(|d| d.holders_of(entitlement)).map(all)
    }
}
