//! The read-only directory functions see through their `directory` import.
//!
//! It reads through its own connection to the store, opened on first use,
//! so it sees what is committed (every earlier step of the run) and cannot
//! write: the connection is opened read-only.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Value as Json, json};

use crate::directory::Directory;
use crate::plugins::DirectoryAccess;

/// Directory reads on a read-only connection of the store at `path`.
pub struct StoreReader {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl StoreReader {
    pub fn new(path: &Path) -> StoreReader {
        StoreReader {
            path: path.to_path_buf(),
            conn: Mutex::new(None),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Directory) -> crate::directory::Result<T>,
    ) -> Result<T, String> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if conn.is_none() {
            let opened = Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| format!("cannot read the directory: {e}"))?;
            opened
                .busy_timeout(std::time::Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            *conn = Some(opened);
        }
        let dir = Directory::new(conn.as_ref().unwrap(), "plugin".into());
        f(&dir).map_err(|e| e.to_string())
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
