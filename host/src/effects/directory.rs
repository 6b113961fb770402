//! The read-only directory functions see through their `directory` import.
//!
//! It reads through the store's read connections, so it sees what is
//! committed (every earlier step of the run; in a dry run, the run's own
//! changes to its copy of the store) and cannot write.

use serde_json::{Map, Value as Json, json};

use crate::directory::{DirError, DirectoryReads};
use crate::plugins::DirectoryAccess;
use crate::store::Store;

/// Directory reads on the store's read connections.
pub struct StoreReader {
    store: Store,
}

impl StoreReader {
    pub fn new(store: Store) -> StoreReader {
        StoreReader { store }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&dyn DirectoryReads) -> crate::directory::Result<T>,
    ) -> Result<T, String> {
        self.store
            .read(|tx| f(&*tx.directory()))
            .map_err(|e: DirError| e.to_string())
    }
}

/// The user fields `find-users` filters on.
const FILTERS: [&str; 5] = ["email", "department", "status", "manager_id", "title"];

impl DirectoryAccess for StoreReader {
    fn get_user(&self, id: &str) -> Result<Option<Json>, String> {
        self.with(|dir| Ok(dir.user(id)?.map(|u| json!(u))))
    }

    fn find_users(&self, filter: &Map<String, Json>, limit: u32) -> Result<Vec<Json>, String> {
        if let Some(unknown) = filter.keys().find(|k| !FILTERS.contains(&k.as_str())) {
            return Err(format!(
                "cannot filter users on `{unknown}` (known: {})",
                FILTERS.join(", ")
            ));
        }
        self.with(|dir| {
            Ok(dir
                .users()?
                .into_iter()
                .map(|u| json!(u))
                .filter(|u| filter.iter().all(|(k, v)| &u[k] == v))
                .take(limit as usize)
                .collect())
        })
    }

    fn list_grants(&self, user: &str) -> Result<Vec<Json>, String> {
        self.with(|dir| {
            dir.grants_of(user)?
                .into_iter()
                .map(|g| {
                    let e = dir.require_entitlement(&g.entitlement_id)?;
                    Ok(json!({
                        "entitlement": g.entitlement_id,
                        "app": g.app_id,
                        "slug": e.slug,
                        "name": e.name,
                        "resource_type": g.resource_type,
                        "resource": g.resource,
                        "source": g.source,
                        "granted_at": g.granted_at,
                    }))
                })
                .collect()
        })
    }
}
